// The released Node SDKs (openai, the Vercel AI SDK, @anthropic-ai/sdk)
// against the daemon.
//
// `node cases.mjs NAME...` runs the named cases in one process and prints one
// line per case: `ok NAME SECONDS` or `FAIL NAME SECONDS WHY`. run.sh starts
// the daemon in front of the mock backend and passes its root URL in
// PROXY_URL; every answer of the mock is EXPECTED_TEXT, unless a case
// scripts the next one through the mock's stdin (MOCK_CONTROL), which the
// mock acknowledges in its log (MOCK_LOG).
//
// Retries are off and timeouts short, so a broken answer shows as itself and
// not as a slow retry loop.

import { appendFileSync, readFileSync } from "node:fs";

const PROXY_URL = process.env.PROXY_URL;
const ANSWER = process.env.EXPECTED_TEXT;
const MODEL = process.env.CLIENTS_MODEL ?? "gpt-5";
// Per request; a case gets CASE_MS in all, so a hung stream fails alone.
const TIMEOUT_MS = 15_000;
const CASE_MS = 25_000;

class CaseFailed extends Error {}

function expect(holds, why) {
  if (!holds) throw new CaseFailed(why);
}

const show = (value) => JSON.stringify(value);

async function openaiClient() {
  const { default: OpenAI } = await import("openai");
  return new OpenAI({ baseURL: `${PROXY_URL}/v1`, apiKey: "unused", maxRetries: 0, timeout: TIMEOUT_MS });
}

async function anthropicClient() {
  const { default: Anthropic } = await import("@anthropic-ai/sdk");
  return new Anthropic({ baseURL: PROXY_URL, apiKey: "unused", maxRetries: 0, timeout: TIMEOUT_MS });
}

async function aiSdkModel() {
  const { createOpenAI } = await import("@ai-sdk/openai");
  const provider = createOpenAI({ baseURL: `${PROXY_URL}/v1`, apiKey: "unused" });
  return provider.responses(MODEL);
}

const textOf = (message) =>
  message.content
    .filter((block) => block.type === "text")
    .map((block) => block.text)
    .join("");

// Has the mock answer the next request with a call of the tool `name`, and
// waits until it will.
async function nextAnswerCalls(name, args) {
  const ack = `next answer calls ${name}\n`;
  const acks = () => readFileSync(process.env.MOCK_LOG, "utf8").split(ack).length - 1;
  const before = acks();
  appendFileSync(process.env.MOCK_CONTROL, `tool ${name} ${JSON.stringify(args)}\n`);
  const deadline = Date.now() + 5_000;
  while (acks() === before) {
    expect(Date.now() < deadline, "the mock did not take the scripted tool call");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// The same tool as the Responses API declares it.
const FUNCTION_TOOL = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city.",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

// The mock's last `count` model requests were one whole turn on a WebSocket,
// then turns chained on it carrying one new item each.
async function expectIncrementalTurns(count) {
  const lines = () => readFileSync(process.env.MOCK_LOG, "utf8").split("\n").filter((l) => l.startsWith("turns "));
  const before = lines().length;
  appendFileSync(process.env.MOCK_CONTROL, "turns\n");
  const deadline = Date.now() + 5_000;
  while (lines().length === before) {
    expect(Date.now() < deadline, "the mock did not say what it saw");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seen = JSON.parse(lines().at(-1).slice(6)).slice(-count).map((t) => [t.route, t.chained, t.items]);
  const want = [["websocket", false, 1], ...Array(count - 1).fill(["websocket", true, 1])];
  expect(show(seen) === show(want), `the backend saw ${show(seen)}, not ${show(want)}`);
}

const TOOL = {
  name: "get_weather",
  description: "The weather in a city.",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

const CASES = {
  // --- openai: Responses ---
  async "node-openai-responses-create"() {
    const response = await (await openaiClient()).responses.create({ model: MODEL, input: "Say hello." });
    expect(response.status === "completed", `status ${show(response.status)}`);
    expect(response.output_text === ANSWER, `output_text ${show(response.output_text)}`);
  },

  async "node-openai-responses-create-stream"() {
    const stream = await (await openaiClient()).responses.create({ model: MODEL, input: "Say hello.", stream: true });
    const events = [];
    for await (const event of stream) events.push(event);
    const kinds = events.map((event) => event.type);
    expect(kinds[0] === "response.created", `first events ${show(kinds.slice(0, 3))}`);
    expect(kinds.at(-1) === "response.completed", `last events ${show(kinds.slice(-3))}`);
    const text = events
      .filter((e) => e.type === "response.output_text.delta")
      .map((e) => e.delta)
      .join("");
    expect(text === ANSWER, `deltas join to ${show(text)}`);
  },

  async "node-openai-responses-stream-final-response"() {
    const stream = (await openaiClient()).responses.stream({ model: MODEL, input: "Say hello." });
    let text = "";
    for await (const event of stream) if (event.type === "response.output_text.delta") text += event.delta;
    const final = await stream.finalResponse();
    expect(text === ANSWER, `deltas join to ${show(text)}`);
    expect(final.output_text === ANSWER, `final output_text ${show(final.output_text)}`);
  },

  async "node-openai-responses-tool-loop"() {
    // An agent's loop over streamed turns, the whole conversation each time;
    // the daemon sends the backend the first turn whole, then each tool result.
    const client = await openaiClient();
    const conversation = [{ role: "user", content: "The weather in Paris, then in Rome?" }];
    for (const city of ["Paris", "Rome"]) {
      await nextAnswerCalls("get_weather", { city });
      const stream = client.responses.stream({ model: MODEL, input: conversation, tools: [FUNCTION_TOOL], store: false });
      const response = await stream.finalResponse();
      const calls = response.output.filter((item) => item.type === "function_call");
      expect(calls.length === 1 && calls[0].arguments.includes(city), `tool calls ${show(calls)}`);
      conversation.push(...response.output, { type: "function_call_output", call_id: calls[0].call_id, output: "18 C" });
    }
    const final = await client.responses.stream({ model: MODEL, input: conversation, tools: [FUNCTION_TOOL], store: false }).finalResponse();
    expect(final.output_text === ANSWER, `output_text ${show(final.output_text)}`);
    await expectIncrementalTurns(3);
  },

  // --- openai: Chat Completions and models ---
  async "node-openai-chat-completions-create"() {
    const reply = await (await openaiClient()).chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Say hello." }],
    });
    expect(reply.choices.length === 1, `${reply.choices.length} choices`);
    const [choice] = reply.choices;
    expect(choice.message.content === ANSWER, `content ${show(choice.message.content)}`);
    expect(choice.finish_reason === "stop", `finish_reason ${show(choice.finish_reason)}`);
  },

  async "node-openai-chat-completions-create-stream"() {
    const stream = await (await openaiClient()).chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Say hello." }],
      stream: true,
    });
    let text = "";
    const finishes = [];
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      text += choice.delta.content ?? "";
      if (choice.finish_reason) finishes.push(choice.finish_reason);
    }
    expect(text === ANSWER, `content deltas join to ${show(text)}`);
    expect(show(finishes) === show(["stop"]), `finish reasons ${show(finishes)}`);
  },

  async "node-openai-models-list"() {
    const ids = [];
    for await (const model of (await openaiClient()).models.list()) ids.push(model.id);
    expect(ids.includes(MODEL), `${MODEL} not among ${show(ids)}`);
  },

  // --- Vercel AI SDK, the Responses model of @ai-sdk/openai ---
  async "node-ai-sdk-generate-text"() {
    const { generateText } = await import("ai");
    const result = await generateText({ model: await aiSdkModel(), prompt: "Say hello.", maxRetries: 0 });
    expect(result.text === ANSWER, `text ${show(result.text)}`);
    expect(result.finishReason === "stop", `finishReason ${show(result.finishReason)}`);
  },

  async "node-ai-sdk-tool-loop"() {
    // generateText's own loop: each step sends the whole conversation with
    // the tool's result; the daemon sends the backend only what is new.
    const { generateText, tool, stepCountIs } = await import("ai");
    const { z } = await import("zod");
    const cities = [];
    const getWeather = tool({
      description: "The weather in a city.",
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        cities.push(city);
        if (cities.length === 1) await nextAnswerCalls("get_weather", { city: "Rome" });
        return "18 C";
      },
    });
    await nextAnswerCalls("get_weather", { city: "Paris" });
    const result = await generateText({
      model: await aiSdkModel(),
      prompt: "The weather in Paris, then in Rome?",
      tools: { get_weather: getWeather },
      stopWhen: stepCountIs(5),
      providerOptions: { openai: { store: false } },
      maxRetries: 0,
    });
    expect(show(cities) === show(["Paris", "Rome"]), `the tool ran for ${show(cities)}`);
    expect(result.text === ANSWER, `text ${show(result.text)}`);
    await expectIncrementalTurns(3);
  },

  async "node-ai-sdk-stream-text"() {
    const { streamText } = await import("ai");
    const errors = [];
    const result = streamText({
      model: await aiSdkModel(),
      prompt: "Say hello.",
      maxRetries: 0,
      onError: ({ error }) => errors.push(String(error)),
    });
    let text = "";
    for await (const delta of result.textStream) text += delta;
    expect(errors.length === 0, `stream errors ${show(errors)}`);
    expect(text === ANSWER, `textStream joins to ${show(text)}`);
    const finishReason = await result.finishReason;
    expect(finishReason === "stop", `finishReason ${show(finishReason)}`);
  },

  // --- @anthropic-ai/sdk: Messages ---
  async "node-anthropic-messages-create"() {
    const message = await (await anthropicClient()).messages.create({
      model: MODEL,
      max_tokens: 1024,
      messages: [{ role: "user", content: "Say hello." }],
    });
    expect(message.role === "assistant", `role ${show(message.role)}`);
    expect(textOf(message) === ANSWER, `text ${show(textOf(message))}`);
    expect(message.stop_reason === "end_turn", `stop_reason ${show(message.stop_reason)}`);
  },

  async "node-anthropic-messages-create-stream"() {
    const stream = await (await anthropicClient()).messages.create({
      model: MODEL,
      max_tokens: 1024,
      messages: [{ role: "user", content: "Say hello." }],
      stream: true,
    });
    const events = [];
    for await (const event of stream) events.push(event);
    const kinds = events.map((event) => event.type);
    expect(kinds[0] === "message_start", `first events ${show(kinds.slice(0, 3))}`);
    expect(kinds.at(-1) === "message_stop", `last events ${show(kinds.slice(-3))}`);
    const text = events
      .filter((e) => e.type === "content_block_delta" && e.delta.type === "text_delta")
      .map((e) => e.delta.text)
      .join("");
    expect(text === ANSWER, `text deltas join to ${show(text)}`);
    const stops = events.filter((e) => e.type === "message_delta").map((e) => e.delta.stop_reason);
    expect(show(stops) === show(["end_turn"]), `message_delta stop reasons ${show(stops)}`);
  },

  async "node-anthropic-messages-tool-round-trip"() {
    // The model calls the tool (streamed: the SDK assembles the arguments
    // from their deltas); its result goes back with the call, and the model
    // answers with text.
    const client = await anthropicClient();
    const question = { role: "user", content: "What is the weather in Paris?" };
    await nextAnswerCalls("get_weather", { city: "Paris" });
    const first = await client.messages
      .stream({ model: MODEL, max_tokens: 1024, tools: [TOOL], messages: [question] })
      .finalMessage();
    expect(first.stop_reason === "tool_use", `first stop_reason ${show(first.stop_reason)}`);
    const calls = first.content.filter((block) => block.type === "tool_use");
    expect(
      show(calls.map((c) => [c.name, c.input])) === show([["get_weather", { city: "Paris" }]]),
      `tool calls ${show(calls)}`,
    );
    const message = await client.messages.create({
      model: MODEL,
      max_tokens: 1024,
      tools: [TOOL],
      messages: [
        question,
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: calls[0].id, content: "18 C and sunny" }] },
      ],
    });
    expect(textOf(message) === ANSWER, `text ${show(textOf(message))}`);
    expect(message.stop_reason === "end_turn", `stop_reason ${show(message.stop_reason)}`);
  },

  async "node-anthropic-messages-count-tokens"() {
    const count = await (await anthropicClient()).messages.countTokens({
      model: MODEL,
      messages: [{ role: "user", content: "Say hello to the whole world." }],
    });
    expect(count.input_tokens > 0, `input_tokens ${show(count.input_tokens)}`);
  },
};

async function run(name) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CaseFailed(`no result within ${CASE_MS / 1000} s`)), CASE_MS);
  });
  try {
    await Promise.race([CASES[name](), deadline]);
    return null;
  } catch (error) {
    // The SDK's own errors say what went wrong.
    return error instanceof CaseFailed ? error.message : `${error?.name}: ${error?.message}`;
  } finally {
    clearTimeout(timer);
  }
}

const names = process.argv.slice(2);
const unknown = names.filter((name) => !(name in CASES));
if (unknown.length || !names.length) {
  console.error(`unknown cases ${show(unknown)}; known: ${Object.keys(CASES).join(" ")}`);
  process.exit(2);
}
// Loaded before the clock starts: loading takes a while, and it is the SDK's
// cost, not the daemon's.
const sdks = { "node-openai-": "openai", "node-ai-sdk-": "@ai-sdk/openai", "node-anthropic-": "@anthropic-ai/sdk" };
for (const [prefix, sdk] of Object.entries(sdks)) {
  if (names.some((name) => name.startsWith(prefix))) await import(sdk);
}
if (names.some((name) => name.startsWith("node-ai-sdk-"))) await import("ai");
let failed = 0;
for (const name of names) {
  const start = performance.now();
  const why = await run(name);
  const seconds = ((performance.now() - start) / 1000).toFixed(2);
  if (why === null) {
    console.log(`ok ${name} ${seconds}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name} ${seconds} ${why.split(/\s+/).join(" ")}`);
  }
}
// A stream left open by a failed case must not keep the process alive.
process.exit(failed ? 1 : 0);
