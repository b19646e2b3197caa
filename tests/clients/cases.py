"""The released Python SDKs (openai, anthropic) against the daemon.

`python cases.py NAME...` runs the named cases in one process (the SDKs take
seconds of CPU to import, too much to pay per case) and prints one line per
case: `ok NAME SECONDS` or `FAIL NAME SECONDS WHY`. run.sh starts the daemon in
front of the mock backend and passes its root URL in PROXY_URL; every answer
of the mock is EXPECTED_TEXT, unless a case scripts the next one through the
mock's stdin (MOCK_CONTROL), which the mock acknowledges in its log (MOCK_LOG).

Retries are off and timeouts short, so a broken answer shows as itself and
not as a slow retry loop."""

import json
import os
import signal
import sys
import time
from collections.abc import Callable

PROXY_URL = os.environ["PROXY_URL"]
ANSWER = os.environ["EXPECTED_TEXT"]
MODEL = os.environ.get("CLIENTS_MODEL", "gpt-5")
# Per request; a case gets CASE_SECONDS in all, so a hung stream fails alone.
TIMEOUT = 15.0
CASE_SECONDS = 25

CASES: dict[str, Callable[[], None]] = {}


class CaseFailed(Exception):
    pass


def case(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        CASES[name] = fn
        return fn

    return register


def expect(holds: bool, why: str) -> None:
    if not holds:
        raise CaseFailed(why)


def openai_client():
    from openai import OpenAI

    return OpenAI(base_url=f"{PROXY_URL}/v1", api_key="unused", max_retries=0, timeout=TIMEOUT)


def anthropic_client():
    from anthropic import Anthropic

    return Anthropic(base_url=PROXY_URL, api_key="unused", max_retries=0, timeout=TIMEOUT)


# --- openai: Responses ---


@case("py-openai-responses-create")
def responses_create() -> None:
    response = openai_client().responses.create(model=MODEL, input="Say hello.")
    expect(response.status == "completed", f"status {response.status!r}")
    expect(response.output_text == ANSWER, f"output_text {response.output_text!r}")


@case("py-openai-responses-create-stream")
def responses_create_stream() -> None:
    events = list(openai_client().responses.create(model=MODEL, input="Say hello.", stream=True))
    kinds = [event.type for event in events]
    expect(kinds[:1] == ["response.created"], f"first events {kinds[:3]}")
    expect(kinds[-1:] == ["response.completed"], f"last events {kinds[-3:]}")
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    expect(text == ANSWER, f"deltas join to {text!r}")
    done = [e.text for e in events if e.type == "response.output_text.done"]
    expect(done == [ANSWER], f"output_text.done {done!r}")


@case("py-openai-responses-stream-final-response")
def responses_stream_final_response() -> None:
    with openai_client().responses.stream(model=MODEL, input="Say hello.") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    expect(text == ANSWER, f"deltas join to {text!r}")
    expect(final.output_text == ANSWER, f"final output_text {final.output_text!r}")


@case("py-openai-responses-retrieve")
def responses_retrieve() -> None:
    client = openai_client()
    created = client.responses.create(model=MODEL, input="Say hello.")
    fetched = client.responses.retrieve(created.id)
    expect(fetched.id == created.id, f"retrieved id {fetched.id!r} for {created.id!r}")
    expect(fetched.output_text == ANSWER, f"retrieved output_text {fetched.output_text!r}")


@case("py-openai-responses-input-items-list")
def responses_input_items_list() -> None:
    client = openai_client()
    created = client.responses.create(model=MODEL, input="Say hello.")
    items = list(client.responses.input_items.list(created.id))
    texts = [
        part.text
        for item in items
        if item.type == "message" and item.role == "user"
        for part in item.content
        if part.type == "input_text"
    ]
    expect(texts == ["Say hello."], f"user texts among the input items: {texts!r}")


@case("py-openai-responses-delete")
def responses_delete() -> None:
    from openai import NotFoundError

    client = openai_client()
    created = client.responses.create(model=MODEL, input="Say hello.")
    client.responses.delete(created.id)
    try:
        client.responses.retrieve(created.id)
    except NotFoundError:
        return
    raise CaseFailed("a deleted response could still be retrieved")


@case("py-openai-responses-previous-response-id")
def responses_previous_response_id() -> None:
    client = openai_client()
    first = client.responses.create(model=MODEL, input="Remember the word kiwi.")
    second = client.responses.create(
        model=MODEL, input="Which word?", previous_response_id=first.id
    )
    expect(second.id != first.id, f"both turns have the id {first.id!r}")
    expect(
        second.previous_response_id == first.id,
        f"previous_response_id {second.previous_response_id!r}, not {first.id!r}",
    )
    expect(second.output_text == ANSWER, f"output_text {second.output_text!r}")


@case("py-openai-responses-tool-loop")
def responses_tool_loop() -> None:
    # An agent's loop as the SDK's docs write it: the whole conversation every
    # turn, the answer's output appended as the SDK returns it. The daemon
    # sends the backend the first turn whole, then only each tool result.
    client = openai_client()
    conversation: list = [{"role": "user", "content": "The weather in Paris, then in Rome?"}]
    for city in ["Paris", "Rome"]:
        next_answer_calls("get_weather", {"city": city})
        response = client.responses.create(
            model=MODEL, input=conversation, tools=[FUNCTION_TOOL], store=False
        )
        calls = [item for item in response.output if item.type == "function_call"]
        expect(len(calls) == 1 and city in calls[0].arguments, f"tool calls {calls!r}")
        conversation += response.output
        conversation.append(
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "18 C"}
        )
    final = client.responses.create(
        model=MODEL, input=conversation, tools=[FUNCTION_TOOL], store=False
    )
    expect(final.output_text == ANSWER, f"output_text {final.output_text!r}")
    expect_incremental_turns(3)


# --- openai: Chat Completions and models ---


@case("py-openai-chat-completions-create")
def chat_completions_create() -> None:
    reply = openai_client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hello."}]
    )
    choice = reply.choices[0]
    expect(len(reply.choices) == 1, f"{len(reply.choices)} choices")
    expect(choice.message.content == ANSWER, f"content {choice.message.content!r}")
    expect(choice.finish_reason == "stop", f"finish_reason {choice.finish_reason!r}")


@case("py-openai-chat-completions-create-stream")
def chat_completions_create_stream() -> None:
    chunks = list(
        openai_client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Say hello."}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    expect(text == ANSWER, f"content deltas join to {text!r}")
    expect(finishes == ["stop"], f"finish reasons {finishes!r}")


@case("py-openai-models-list")
def models_list() -> None:
    ids = [model.id for model in openai_client().models.list()]
    expect(MODEL in ids, f"{MODEL} not among {ids!r}")


# --- anthropic: Messages ---

TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


# The same tool as the Responses API declares it.
FUNCTION_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def expect_incremental_turns(count: int) -> None:
    """The mock's last `count` model requests were one whole turn on a
    WebSocket, then turns chained on it carrying one new item each."""
    with open(os.environ["MOCK_LOG"]) as log:
        before = log.read().count("\nturns ")
    with open(os.environ["MOCK_CONTROL"], "w") as control:
        control.write("turns\n")
    deadline = time.monotonic() + 5
    while True:
        with open(os.environ["MOCK_LOG"]) as log:
            lines = [line for line in log.read().splitlines() if line.startswith("turns ")]
        if len(lines) > before:
            break
        expect(time.monotonic() < deadline, "the mock did not say what it saw")
        time.sleep(0.02)
    seen = [(t["route"], t["chained"], t["items"]) for t in json.loads(lines[-1][6:])[-count:]]
    want = [("websocket", False, 1)] + [("websocket", True, 1)] * (count - 1)
    expect(seen == want, f"the backend saw {seen}, not {want}")


def text_of(message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def next_answer_calls(name: str, arguments: dict) -> None:
    """Has the mock answer the next request with a call of the tool `name`,
    and waits until it will."""
    ack = f"next answer calls {name}\n"

    def acks() -> int:
        with open(os.environ["MOCK_LOG"]) as log:
            return log.read().count(ack)

    before = acks()
    with open(os.environ["MOCK_CONTROL"], "w") as control:
        control.write(f"tool {name} {json.dumps(arguments)}\n")
    deadline = time.monotonic() + 5
    while acks() == before:
        expect(time.monotonic() < deadline, "the mock did not take the scripted tool call")
        time.sleep(0.02)


@case("py-anthropic-messages-create")
def anthropic_messages_create() -> None:
    message = anthropic_client().messages.create(
        model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "Say hello."}]
    )
    expect(message.role == "assistant", f"role {message.role!r}")
    expect(text_of(message) == ANSWER, f"text {text_of(message)!r}")
    expect(message.stop_reason == "end_turn", f"stop_reason {message.stop_reason!r}")


@case("py-anthropic-messages-create-stream")
def anthropic_messages_create_stream() -> None:
    events = list(
        anthropic_client().messages.create(
            model=MODEL,
            max_tokens=1024,
            messages=[{"role": "user", "content": "Say hello."}],
            stream=True,
        )
    )
    kinds = [event.type for event in events]
    expect(kinds[:1] == ["message_start"], f"first events {kinds[:3]}")
    expect(kinds[-1:] == ["message_stop"], f"last events {kinds[-3:]}")
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    expect(text == ANSWER, f"text deltas join to {text!r}")
    stops = [e.delta.stop_reason for e in events if e.type == "message_delta"]
    expect(stops == ["end_turn"], f"message_delta stop reasons {stops!r}")


@case("py-anthropic-messages-tool-round-trip")
def anthropic_messages_tool_round_trip() -> None:
    # The model calls the tool; its result goes back with the call, and the
    # model answers with text.
    client = anthropic_client()
    question = {"role": "user", "content": "What is the weather in Paris?"}
    next_answer_calls("get_weather", {"city": "Paris"})
    first = client.messages.create(model=MODEL, max_tokens=1024, tools=[TOOL], messages=[question])
    expect(first.stop_reason == "tool_use", f"first stop_reason {first.stop_reason!r}")
    calls = [block for block in first.content if block.type == "tool_use"]
    expect(
        [(c.name, c.input) for c in calls] == [("get_weather", {"city": "Paris"})],
        f"tool calls {calls!r}",
    )
    result = {"type": "tool_result", "tool_use_id": calls[0].id, "content": "18 C and sunny"}
    message = client.messages.create(
        model=MODEL,
        max_tokens=1024,
        tools=[TOOL],
        messages=[question, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}],
    )
    expect(text_of(message) == ANSWER, f"text {text_of(message)!r}")
    expect(message.stop_reason == "end_turn", f"stop_reason {message.stop_reason!r}")


@case("py-anthropic-messages-count-tokens")
def anthropic_messages_count_tokens() -> None:
    count = anthropic_client().messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "Say hello to the whole world."}]
    )
    expect(count.input_tokens > 0, f"input_tokens {count.input_tokens!r}")


def timed_out(_signum, _frame) -> None:
    raise CaseFailed(f"no result within {CASE_SECONDS} s")


def run(name: str) -> str | None:
    """Runs one case; the reason it failed, or None."""
    signal.alarm(CASE_SECONDS)
    try:
        CASES[name]()
    except CaseFailed as failure:
        return str(failure)
    except Exception as error:  # the SDK's own errors say what went wrong
        return f"{type(error).__name__}: {error}"
    finally:
        signal.alarm(0)
    return None


def main() -> int:
    unknown = [name for name in sys.argv[1:] if name not in CASES]
    if unknown or len(sys.argv) < 2:
        print(f"unknown cases {unknown}; known: {' '.join(CASES)}", file=sys.stderr)
        return 2
    # Imported before the clock starts: importing takes seconds, and it is
    # the SDK's cost, not the daemon's.
    if any(name.startswith("py-openai-") for name in sys.argv[1:]):
        import openai  # noqa: F401
    if any(name.startswith("py-anthropic-") for name in sys.argv[1:]):
        import anthropic  # noqa: F401
    signal.signal(signal.SIGALRM, timed_out)
    failed = 0
    for name in sys.argv[1:]:
        start = time.monotonic()
        why = run(name)
        seconds = f"{time.monotonic() - start:.2f}"
        if why is None:
            print(f"ok {name} {seconds}", flush=True)
        else:
            failed += 1
            print(f"FAIL {name} {seconds} {' '.join(why.split())}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
