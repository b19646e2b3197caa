#!/usr/bin/env bash
# The released clients people point at the daemon, at pinned versions, against
# the real binary in front of the mock backend, on loopback only.
#
#   (cd tests/clients && npm ci && python3 -m venv .venv && .venv/bin/pip install -r requirements.txt)
#   cargo build --bin codex-responses-proxy --example mock_upstream
#   tests/clients/run.sh [--pending] [NAME...]
#   tests/clients/run.sh --latest [--pending] [NAME...]
#
# --latest installs the newest release of every client (each dependency of
# package.json at `latest`, and the Python SDKs) into a temporary directory,
# says which versions it got, and runs the suite against them; the directory
# is removed afterwards. Not part of CI (a moving target): run it before a
# release, and when it passes, move the pins here to what it installed.
#
# Builds and installs nothing: the binaries come from PROXY_BIN and MOCK_BIN
# (else target/debug), the clients from tests/clients/node_modules and
# tests/clients/.venv (CLIENTS_VENV). Prints `ok NAME (T s)`,
# `FAIL NAME: why (T s)` or `skip NAME: pending` per case, then
# `N passed, N failed[, N skipped]`; exits non-zero on any failure. NAMEs pick
# cases; --pending runs the PENDING ones too, as real cases.
#
# The suite runs in a private network namespace holding only loopback (set
# CLIENTS_NETNS=0 to run without one), so no client can reach past
# 127.0.0.1 whatever it tries; the flags and settings below keep them from
# trying.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# Every case, in the order they run. py-* run in one Python process
# (cases.py), node-* in one Node process (cases.mjs), the rest below.
CASES=(
  py-openai-responses-create
  py-openai-responses-create-stream
  py-openai-chat-completions-create
  py-openai-chat-completions-create-stream
  py-openai-models-list
  py-openai-responses-stream-final-response
  py-openai-responses-retrieve
  py-openai-responses-input-items-list
  py-openai-responses-delete
  py-openai-responses-previous-response-id
  py-openai-responses-tool-loop
  py-anthropic-messages-create
  py-anthropic-messages-create-stream
  py-anthropic-messages-tool-round-trip
  py-anthropic-messages-count-tokens
  node-openai-responses-create
  node-openai-responses-create-stream
  node-openai-chat-completions-create
  node-openai-chat-completions-create-stream
  node-openai-models-list
  node-openai-responses-stream-final-response
  node-openai-responses-tool-loop
  node-ai-sdk-generate-text
  node-ai-sdk-stream-text
  node-ai-sdk-tool-loop
  node-anthropic-messages-create
  node-anthropic-messages-create-stream
  node-anthropic-messages-tool-round-trip
  node-anthropic-messages-count-tokens
  codex-exec-http
  codex-exec-websocket
  codex-exec-builtin
  claude-print
  claude-print-overflow
  client-families
)

# Cases written to the public API of a capability the daemon does not have
# yet. They are reported as skipped; delete a line here when its capability
# lands, and the case counts from then on.
PENDING=(
)

# The mock backend (examples/mock_upstream.rs) answers every request with
# this text, and accepts only its own model names.
ANSWER='Hello, world!'
MODEL=gpt-5
# Longest a whole CLI run may take; the SDK runners bound each case
# themselves (cases.py, cases.mjs) and get this for loading on top.
CLI_SECONDS=60
LOAD_SECONDS=90
# Past this, the cases not yet started fail instead of running.
SUITE_SECONDS=240

# The Python SDKs the cases import, for --latest.
LATEST_PY=(openai anthropic)

# --- --latest: the newest clients, installed before the network goes away ---
if [[ ${1:-} == --latest && -z ${CLIENTS_LATEST_DIR:-} ]]; then
  shift
  latest=$(mktemp -d "${TMPDIR:-/tmp}/codex-responses-proxy-latest.XXXXXX")
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
d["dependencies"] = {name: "latest" for name in d["dependencies"]}
json.dump(d, open(sys.argv[2], "w"), indent=2)' "$here/package.json" "$latest/package.json"
  cp "$here/cases.mjs" "$latest/"
  if ! (cd "$latest" && npm install --no-audit --no-fund --loglevel=error >/dev/null) ||
    ! python3 -m venv "$latest/venv" ||
    ! "$latest/venv/bin/pip" install -q --disable-pip-version-check "${LATEST_PY[@]}"; then
    echo "FAIL setup: the latest clients could not be installed in $latest"
    exit 1
  fi
  echo "latest clients:"
  python3 -c 'import json, os, sys
for name in json.load(open(os.path.join(sys.argv[1], "package.json")))["dependencies"]:
    print(" ", name, json.load(open(os.path.join(sys.argv[1], "node_modules", name, "package.json")))["version"])' "$latest"
  "$latest/venv/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -iE "^($(IFS='|'; echo "${LATEST_PY[*]}")) " | sed 's/^/  /'
  exec env CLIENTS_LATEST_DIR="$latest" CLIENTS_VENV="$latest/venv" bash "$0" "$@"
fi

# --- a private network namespace, loopback only ---
if [[ ${CLIENTS_NETNS:-1} != 0 && -z ${CLIENTS_IN_NETNS:-} ]]; then
  user_ns=()
  [[ $(id -u) == 0 ]] || user_ns=(-r)
  if unshare "${user_ns[@]}" -n true 2>/dev/null; then
    exec unshare "${user_ns[@]}" -n env CLIENTS_IN_NETNS=1 bash "$0" "$@"
  fi
  echo "note: no private network namespace here (unshare -n failed); running on the host network"
fi
if [[ -n ${CLIENTS_IN_NETNS:-} ]]; then
  ip link set lo up || {
    echo "FAIL setup: cannot bring up loopback in the namespace (is iproute2 installed?)"
    exit 1
  }
fi

target=${CARGO_TARGET_DIR:-$root/target}
proxy_bin=${PROXY_BIN:-$target/debug/codex-responses-proxy}
mock_bin=${MOCK_BIN:-$target/debug/examples/mock_upstream}
venv=${CLIENTS_VENV:-$here/.venv}
# The Node clients and the runner beside them (it imports them from there).
node_dir=${CLIENTS_LATEST_DIR:-$here}
bin=$node_dir/node_modules/.bin
[[ -x $proxy_bin ]] || {
  echo "FAIL setup: no daemon at $proxy_bin: cargo build --bin codex-responses-proxy (or set PROXY_BIN)"
  exit 1
}
[[ -x $mock_bin ]] || {
  echo "FAIL setup: no mock at $mock_bin: cargo build --example mock_upstream (or set MOCK_BIN)"
  exit 1
}

# --- which cases run ---
run_pending=0
[[ ${1:-} == --pending ]] && run_pending=1 && shift
selected=("$@")
((${#selected[@]})) || selected=("${CASES[@]}")
for name in "${selected[@]}"; do
  [[ " ${CASES[*]} " == *" $name "* ]] || {
    echo "FAIL setup: no case named $name"
    exit 1
  }
done
is_pending() { ((run_pending == 0)) && [[ " ${PENDING[*]} " == *" $1 "* ]]; }

# --- results ---
passed=0 failed=0 skipped=0
started=$SECONDS
ok() { # NAME SECONDS
  echo "ok $1 ($2 s)"
  passed=$((passed + 1))
}
fail() { # NAME SECONDS WHY
  echo "FAIL $1: $3 ($2 s)"
  failed=$((failed + 1))
}
left() { echo $((SUITE_SECONDS - (SECONDS - started))); }
budget() { # WANTED: the seconds a step may take, within what the suite has left
  local rest
  rest=$(left)
  rest=$((rest < 1 ? 1 : rest)) # timeout 0 would mean no limit at all
  echo $((rest < $1 ? rest : $1))
}
elapsed() { # START_NS
  local ns=$(($(date +%s%N) - $1))
  printf '%d.%02d' $((ns / 1000000000)) $((ns % 1000000000 / 10000000))
}

# --- the mock backend and the daemon, on 127.0.0.1 port 0 ---
work=$(mktemp -d "${TMPDIR:-/tmp}/codex-responses-proxy-clients.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  if ((failed)); then echo "logs kept in $work"; else rm -rf "$work"; fi
  [[ -z ${CLIENTS_LATEST_DIR:-} ]] || rm -rf "$CLIENTS_LATEST_DIR"
}
trap cleanup EXIT
until_true() { # SECONDS COMMAND...: retry every 0.1 s, at most SECONDS
  local n=$(($1 * 10))
  shift
  while ((n-- > 0)); do "$@" && return 0; sleep 0.1; done
  return 1
}
# A clean environment for every process, so nothing of the machine running
# the suite (a proxy variable, a user's client settings) leaks in.
clean=(env -i PATH="$bin:$PATH" LANG=C.UTF-8 NO_COLOR=1 TMPDIR="$work")
clean_env() { # HOME COMMAND...
  mkdir -p "$1"
  "${clean[@]}" HOME="$1" "${@:2}"
}
start() { # LOG HOME COMMAND...: in the background; env execs, so $! is the command
  mkdir -p "$2"
  "${clean[@]}" HOME="$2" "${@:3}" <"${START_STDIN:-/dev/null}" >"$1" 2>&1 &
  pids+=($!)
}

# The mock reads what its next answer is (`tool NAME ARGS`) on stdin: a pipe
# the SDK cases write to (MOCK_CONTROL), held open here so that it never
# reads an end.
mkfifo "$work/mock.in"
exec 3<>"$work/mock.in"
START_STDIN=$work/mock.in start "$work/mock.log" "$work/mock-home" "$mock_bin" 127.0.0.1:0 "$work/codex-home"
until_true 20 grep -qs upstream_url= "$work/mock.log" || {
  failed=1
  echo "FAIL setup: the mock backend did not start: $(tail -3 "$work/mock.log")"
  exit 1
}
read -r upstream token <"$work/mock.log"
# Incremental turns on, as against the ChatGPT backend (left unset they are
# off for any other upstream): every Responses case also checks that a turn
# chained on a backend socket answers as HTTP does.
start "$work/proxy.log" "$work/proxy-home" XDG_CONFIG_HOME="$work/proxy-home/xdg" "$proxy_bin" \
  --listen 127.0.0.1:0 --codex-home "$work/codex-home" \
  --upstream-url "${upstream#upstream_url=}" --token-url "${token#token_url=}" \
  --log-target stderr --incremental-turns true
until_true 20 grep -qs ' listen=' "$work/proxy.log" || {
  failed=1
  echo "FAIL setup: the daemon did not log its address: $(tail -3 "$work/proxy.log")"
  exit 1
}
addr=$(grep -o ' listen=[^ ]*' "$work/proxy.log" | head -1)
url=http://${addr#* listen=}

# --- the SDK runners: one process for all the cases of a language ---
run_batch() { # RUNNER_MISSING_WHY COMMAND... -- NAME...
  local missing=$1 cmd=() names=() out rc line start_ns name verdict seconds why
  shift
  while [[ $1 != -- ]]; do cmd+=("$1") && shift; done
  shift
  names=("$@")
  ((${#names[@]})) || return 0
  (($(left) > 0)) || missing="not run: the suite's $SUITE_SECONDS s were spent"
  if [[ -n $missing ]]; then
    for name in "${names[@]}"; do fail "$name" 0.00 "$missing"; done
    return
  fi
  start_ns=$(date +%s%N)
  out=$(clean_env "$work/sdk-home" PROXY_URL="$url" EXPECTED_TEXT="$ANSWER" CLIENTS_MODEL="$MODEL" \
    MOCK_CONTROL="$work/mock.in" MOCK_LOG="$work/mock.log" \
    timeout -k 5 "$(budget $((LOAD_SECONDS + 30 * ${#names[@]})))" "${cmd[@]}" "${names[@]}" 2>"$work/${names[0]%%-*}.err")
  rc=$?
  for name in "${names[@]}"; do
    line=$(grep -E "^(ok|FAIL) $name " <<<"$out")
    read -r verdict _ seconds why <<<"$line"
    case $verdict in
      ok) ok "$name" "$seconds" ;;
      FAIL) fail "$name" "$seconds" "$why" ;;
      *) fail "$name" "$(elapsed "$start_ns")" "the runner stopped before this case (exit $rc): $(tail -c 300 "$work/${names[0]%%-*}.err" | tr '\n' ' ')" ;;
    esac
  done
}

# --- the CLIs ---
# Codex CLI as a custom provider. The settings keep it offline: no update
# check, no plugin marketplace (a git fetch from the internet), no remote
# plugins or apps, no analytics or feedback uploads, no login-shell snapshot.
# --strict-config makes a setting a newer CLI no longer knows fail the case
# rather than be silently ignored.
codex_exec() { # NAME PROVIDER_EXTRA_TOML [PROVIDER_CHOICE_TOML]: runs it, leaves stdout and stderr in $work/NAME.*
  local home=$work/$1 choice=${3:-'model_provider = "codex-responses-proxy"'}
  mkdir -p "$home/codex-home" "$home/project"
  cat >"$home/codex-home/config.toml" <<EOF
model = "$MODEL"
$choice
check_for_update_on_startup = false

[features]
plugins = false
remote_plugin = false
apps = false
tool_suggest = false
shell_snapshot = false

[analytics]
enabled = false

[feedback]
enabled = false

[model_providers.codex-responses-proxy]
name = "codex-responses-proxy"
base_url = "$url/v1"
wire_api = "responses"
env_key = "CODEX_RESPONSES_PROXY_KEY"
$2
EOF
  clean_env "$home" CODEX_HOME="$home/codex-home" CODEX_RESPONSES_PROXY_KEY=unused CODEX_API_KEY=unused \
    timeout -k 5 "$(budget $CLI_SECONDS)" codex exec --skip-git-repo-check --ephemeral --strict-config \
    --sandbox read-only --color never -C "$home/project" "Say hello." \
    </dev/null >"$work/$1.out" 2>"$work/$1.err"
}

# The answer must be what the CLI printed on stdout, and it must have got
# there without a retry or a fallback.
judge_cli() { # NAME RC START_NS FORBIDDEN_PATTERN [DAEMON_LOG_PATTERN COUNT_BEFORE]
  local name=$1 rc=$2 took why=
  took=$(elapsed "$3")
  if ((rc == 124)); then
    why="no exit in the time allowed; stderr: $(tail -c 200 "$work/$name.err" | tr '\n' ' ')"
  elif ((rc != 0)); then
    why="exit $rc; stdout: $(tail -c 200 "$work/$name.out" | tr '\n' ' '); stderr: $(tail -c 200 "$work/$name.err" | tr '\n' ' ')"
  elif ! grep -qxF "$ANSWER" "$work/$name.out"; then
    why="the answer is not on stdout: $(tail -c 200 "$work/$name.out" | tr '\n' ' ')"
  elif grep -qE "$4" "$work/$name.out" "$work/$name.err"; then
    why="it printed: $(grep -hE "$4" "$work/$name.out" "$work/$name.err" | head -2 | tr '\n' ' ')"
  elif [[ -n ${5:-} ]] && (($(grep -cE "$5" "$work/proxy.log") <= $6)); then
    why="the daemon logged no new line matching $5"
  fi
  if [[ -z $why ]]; then ok "$name" "$took"; else fail "$name" "$took" "$why"; fi
}

case_codex_exec_http() {
  local start_ns
  start_ns=$(date +%s%N)
  codex_exec codex-exec-http ""
  judge_cli codex-exec-http $? "$start_ns" 'Reconnecting|stream disconnected|ERROR'
}

case_codex_exec_websocket() {
  local start_ns turns
  start_ns=$(date +%s%N)
  turns=$(grep -c 'transport="websocket"' "$work/proxy.log")
  codex_exec codex-exec-websocket "supports_websockets = true"
  judge_cli codex-exec-websocket $? "$start_ns" 'Falling back|failed to connect|Reconnecting|ERROR' 'transport="websocket"' "$turns"
}

# The built-in provider, moved to the proxy by `openai_base_url` alone; it
# speaks the WebSocket without being told to.
case_codex_exec_builtin() {
  local start_ns turns
  start_ns=$(date +%s%N)
  turns=$(grep -c 'transport="websocket"' "$work/proxy.log")
  codex_exec codex-exec-builtin "" "openai_base_url = \"$url/v1\""
  judge_cli codex-exec-builtin $? "$start_ns" 'Falling back|failed to connect|Reconnecting|ERROR' 'transport="websocket"' "$turns"
}

# Claude Code in print mode. The variables keep it offline: no auto-update,
# no telemetry or error reports, and none of its other calls home (the
# connectivity probe of the base URL among them). The mock knows only its own
# model names, so the model is named.
case_claude_print() {
  local start_ns
  start_ns=$(date +%s%N)
  clean_env "$work/claude-print" ANTHROPIC_BASE_URL="$url" ANTHROPIC_API_KEY=unused \
    DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
    timeout -k 5 "$(budget $CLI_SECONDS)" claude -p --model "$MODEL" "say hello" \
    </dev/null >"$work/claude-print.out" 2>"$work/claude-print.err"
  judge_cli claude-print $? "$start_ns" 'API Error|ECONNREFUSED'
}

# A conversation whose second turn the backend refuses as past the model's
# window: the daemon says so in Anthropic's words (`prompt is too long: N
# tokens > M maximum`), and Claude Code 2.1.332 compacts the conversation on
# its own and retries, which the mock answers. Its stream-json output shows
# the compaction; its text output would show only the answer.
case_claude_print_overflow() {
  local name=claude-print-overflow start_ns refused rc why=
  start_ns=$(date +%s%N)
  claude_in() { # ARGS...: one run in this case's project, stdout and stderr appended
    clean_env "$work/$name" ANTHROPIC_BASE_URL="$url" ANTHROPIC_API_KEY=unused \
      DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
      bash -c 'cd "$HOME" && exec "$@"' _ timeout -k 5 "$(budget $CLI_SECONDS)" claude -p --model "$MODEL" "$@" \
      </dev/null >>"$work/$name.out" 2>>"$work/$name.err"
  }
  claude_in "say hello"
  rc=$?
  if ((rc == 0)); then
    refused=$(grep -c 'path=/v1/messages .*status=400' "$work/proxy.log")
    echo overflow >&3
    until_true 10 grep -qs 'next answer overflows' "$work/mock.log" || why="the mock did not take the overflow"
    : >"$work/$name.out"
    claude_in --continue --output-format stream-json --verbose "say hello again"
    rc=$?
  fi
  if [[ -n $why ]]; then
    :
  elif ((rc != 0)); then
    why="exit $rc; stdout: $(tail -c 300 "$work/$name.out" | tr '\n' ' '); stderr: $(tail -c 200 "$work/$name.err" | tr '\n' ' ')"
  elif (($(grep -c 'path=/v1/messages .*status=400' "$work/proxy.log") <= refused)); then
    why="the daemon answered no 400 for the overflow"
  elif ! grep -q '"subtype":"compact_boundary".*"trigger":"auto"' "$work/$name.out"; then
    why="Claude Code did not compact: $(tail -c 300 "$work/$name.out" | tr '\n' ' ')"
  elif ! grep -qF "\"result\":\"$ANSWER\"" "$work/$name.out"; then
    why="no answer after the compaction: $(grep -o '"result":"[^"]*"' "$work/$name.out" | tail -1)"
  fi
  if [[ -z $why ]]; then ok "$name" "$(elapsed "$start_ns")"; else fail "$name" "$(elapsed "$start_ns")" "$why"; fi
}

# Last: every client family whose cases ran is counted under its own label in
# /v1/status, told from the headers the released clients really send.
case_client_families() {
  local start_ns status pair prefix family missing=
  start_ns=$(date +%s%N)
  if ! status=$(curl -sf --max-time 10 "$url/v1/status"); then
    fail client-families "$(elapsed "$start_ns")" "GET /v1/status failed"
    return
  fi
  for pair in py-openai:openai_sdk node-openai:openai_sdk py-anthropic:anthropic_sdk \
    node-anthropic:anthropic_sdk node-ai-sdk:ai_sdk codex-exec:codex_cli claude-print:claude_code; do
    prefix=${pair%%:*} family=${pair#*:}
    [[ " ${selected[*]} " == *" $prefix"* ]] || continue
    jq -e --arg c "$family" 'any(.usage_last_hour[]; .client == $c and .turns_with_usage > 0)' \
      <<<"$status" >/dev/null || missing+=" $family"
  done
  if [[ -z $missing ]]; then
    ok client-families "$(elapsed "$start_ns")"
  else
    fail client-families "$(elapsed "$start_ns")" "no counted turns under:$missing; $(jq -c .usage_last_hour <<<"$status")"
  fi
}

# --- run ---
py=() node=() cli=() pending=()
for name in "${selected[@]}"; do
  if is_pending "$name"; then
    pending+=("$name")
    continue
  fi
  case $name in
    py-*) py+=("$name") ;;
    node-*) node+=("$name") ;;
    *) cli+=("$name") ;;
  esac
done

no_venv=
[[ -x $venv/bin/python ]] || no_venv="no Python venv at $venv: python3 -m venv $venv && $venv/bin/pip install -r $here/requirements.txt"
no_modules=
[[ -x $bin/node ]] || no_modules="no node_modules in $node_dir: npm ci --prefix $node_dir"

run_batch "$no_venv" "$venv/bin/python" "$here/cases.py" -- "${py[@]}"
run_batch "$no_modules" node "$node_dir/cases.mjs" -- "${node[@]}"
for name in "${cli[@]}"; do
  if [[ -n $no_modules ]]; then
    fail "$name" 0.00 "$no_modules"
  elif (($(left) <= 0)); then
    fail "$name" 0.00 "not run: the suite's $SUITE_SECONDS s were spent"
  else
    "case_${name//-/_}"
  fi
done

for name in "${pending[@]}"; do
  echo "skip $name: pending"
  skipped=$((skipped + 1))
done
if ((skipped)); then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
((failed == 0))
