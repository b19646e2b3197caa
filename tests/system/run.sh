#!/usr/bin/env bash
# The shipped user units in a real systemd user manager with a real journald,
# in a private mount namespace, against the mock backend on 127.0.0.1.
#
#   cargo build --bin codex-responses-proxy --example mock_upstream
#   tests/system/run.sh [--measure N]
#
# Shows: the service waits for the first connection; that connection gets a
# real proxied answer; the unit (Type=notify) becomes active through READY=1
# and carries our STATUS= (activity and the login's usage windows); the
# watchdog is fed; the daemon's records are in the journal with their fields
# (the windows too), and a window passing 90 % is one WARNING record;
# `systemctl --user stop` drains a stream in flight; idle_exit stops the
# service cleanly and the next request starts it again, with the answers
# stored before (StateDirectory=, through the sandbox) still there to
# retrieve and continue.
# With --measure N it also times N first answers from an inactive service
# against N answers from a warm one (docs/SYSTEMD.md).
#
# Needs root (Debian 12, systemd 252), curl, jq, unshare. Binaries come from
# PROXY_BIN and MOCK_BIN, else target/debug. Prints "ok"/"FAIL" lines and exits
# non-zero on any failure; nothing is skipped.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
proxy_bin=${PROXY_BIN:-$target/debug/codex-responses-proxy}
mock_bin=${MOCK_BIN:-$target/debug/examples/mock_upstream}
measure=0
[[ ${1:-} == --measure ]] && measure=${2:?--measure needs a count}

die() {
  echo "FAIL $*"
  exit 1
}
[[ $(id -u) == 0 ]] || die "the system test needs root (a private mount namespace and a user manager)"
for tool in unshare curl jq systemctl journalctl systemd-analyze /lib/systemd/systemd /lib/systemd/systemd-journald; do
  command -v "$tool" >/dev/null || die "missing $tool (apt-get install -y systemd curl jq util-linux)"
done
[[ -x $proxy_bin ]] || die "no daemon at $proxy_bin: cargo build --bin codex-responses-proxy (or set PROXY_BIN)"
[[ -x $mock_bin ]] || die "no mock at $mock_bin: cargo build --example mock_upstream (or set MOCK_BIN)"
proxy_bin=$(realpath "$proxy_bin")
mock_bin=$(realpath "$mock_bin")

# Not under /tmp: the service runs with PrivateTmp=yes, which hides /tmp (and
# a checkout there) from it. The daemon runs from a copy in the work folder.
work=$(mktemp -d /run/codex-responses-proxy-system.XXXXXX)
trap 'rm -rf "$work"' EXIT
install -m 755 "$proxy_bin" "$work/codex-responses-proxy"
proxy_bin=$work/codex-responses-proxy
failures=0

free_port() {
  local port
  while :; do
    # Below the ephemeral range (32768-60999 here), and in no state at all:
    # a port a client connection just left in TIME_WAIT cannot be bound.
    port=$((10000 + RANDOM % 22000))
    ss -Htan "sport = :$port" 2>/dev/null | grep -q . || {
      echo "$port"
      return
    }
  done
}
port=$(free_port)

# --- the shipped units, with ExecStart and ListenStream pointed at this run ---
units=$work/units
mkdir -p "$units/codex-responses-proxy.socket.d" "$units/codex-responses-proxy.service.d"
cp "$root/contrib/systemd/user/codex-responses-proxy.socket" "$root/contrib/systemd/user/codex-responses-proxy.service" "$units/"
cat >"$units/codex-responses-proxy.socket.d/test.conf" <<EOF
[Socket]
ListenStream=
ListenStream=127.0.0.1:$port
EOF
write_service_dropin() { # UPSTREAM_URL TOKEN_URL
  # The measurement starts the service more often than the default start limit
# (5 in 10 s) allows.
((measure > 0)) && printf '[Unit]\nStartLimitIntervalSec=0\n' >"$units/codex-responses-proxy.service.d/measure.conf"
cat >"$units/codex-responses-proxy.service.d/test.conf" <<EOF
[Service]
Environment=CODEX_HOME=%t/codex-home
ExecStart=
ExecStart=$proxy_bin --upstream-url $1 --token-url $2 --idle-exit 4s
WatchdogSec=2s
EOF
}
write_service_dropin http://127.0.0.1:9/backend-api/codex http://127.0.0.1:9/oauth/token
out=$(XDG_RUNTIME_DIR=$(mktemp -d -p "$work") SYSTEMD_UNIT_PATH=$units: systemd-analyze --user verify \
  "$units/codex-responses-proxy.socket" "$units/codex-responses-proxy.service" 2>&1)
if [[ -z $out ]]; then
  echo "ok   systemd-analyze --user verify of the shipped units (with the test drop-ins) prints nothing"
else
  echo "FAIL systemd-analyze --user verify: $out"
  failures=$((failures + 1))
fi

timeout 300 unshare -m --propagation private bash -s "$work" "$port" "$proxy_bin" "$mock_bin" "$measure" >"$work/run.log" 2>&1 <<'SH'
work=$1 port=$2 proxy_bin=$3 mock_bin=$4 measure=$5
units=$work/units svc=codex-responses-proxy.service sock=codex-responses-proxy.socket
url=http://127.0.0.1:$port
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; }
until_true() { # SECONDS COMMAND...: retry every 0.1 s, at most SECONDS
  local n=$(($1 * 10))
  shift
  while ((n-- > 0)); do "$@" && return 0; sleep 0.1; done
  return 1
}
state() { systemctl --user show -p ActiveState --value "$svc"; }
is_state() { [[ $(state) == "$1" ]]; }
ask() { # a non-streaming request; prints the answer's text
  curl -s -m 20 "$url/v1/responses" -H 'content-type: application/json' \
    -d '{"model":"gpt-5","input":"hello"}' | jq -r '.output[0].content[0].text'
}

# Private /run/systemd, /run/log, /run/user and journal storage: the host is untouched.
mount -t tmpfs tmpfs /run/systemd
mkdir -p /run/log /run/user && mount -t tmpfs tmpfs /run/log && mount -t tmpfs -o mode=755 tmpfs /run/user
[[ -d /var/log/journal ]] && mount -t tmpfs tmpfs /var/log/journal
mkdir -p /run/systemd/system /run/systemd/journal
/lib/systemd/systemd-journald &
journald=$!
until_true 5 test -S /run/systemd/journal/socket || fail "journald did not start"
export XDG_RUNTIME_DIR=/run/user/$(id -u)
mkdir -m 700 "$XDG_RUNTIME_DIR"
# StateDirectory= goes under XDG_CONFIG_HOME (systemd 252) or XDG_STATE_HOME
# (newer): in the private /run/user, not root's home.
export XDG_CONFIG_HOME=$XDG_RUNTIME_DIR/xdg-config XDG_STATE_HOME=$XDG_RUNTIME_DIR/xdg-state
mkdir -p "$XDG_CONFIG_HOME" "$XDG_STATE_HOME"

# The mock backend writes a login it accepts into CODEX_HOME; "pace MS" lines
# on its stdin slow down its next answer.
install -d -m 700 "$XDG_RUNTIME_DIR/codex-home"
mkfifo "$work/mock.ctl"
"$mock_bin" 127.0.0.1:0 "$XDG_RUNTIME_DIR/codex-home" <"$work/mock.ctl" >"$work/mock.out" 2>&1 &
mock=$!
exec 9>"$work/mock.ctl"
until_true 10 grep -q upstream_url= "$work/mock.out" || fail "the mock backend did not start: $(cat "$work/mock.out")"
read -r upstream token <"$work/mock.out"
upstream=${upstream#upstream_url=} token=${token#token_url=}
# The measurement starts the service more often than the default start limit
# (5 in 10 s) allows.
((measure > 0)) && printf '[Unit]\nStartLimitIntervalSec=0\n' >"$units/codex-responses-proxy.service.d/measure.conf"
cat >"$units/codex-responses-proxy.service.d/test.conf" <<EOF
[Service]
Environment=CODEX_HOME=%t/codex-home
ExecStart=
ExecStart=$proxy_bin --upstream-url $upstream --token-url $token --idle-exit 4s
WatchdogSec=2s
EOF

export SYSTEMD_UNIT_PATH=$units:
/lib/systemd/systemd --user &
manager=$!
cleanup() {
  systemctl --user stop "$sock" "$svc" 2>/dev/null
  kill "$manager" 2>/dev/null
  until_true 10 bash -c "! kill -0 $manager 2>/dev/null"
  kill "$mock" "$journald" 2>/dev/null
  exec 9>&-
  wait 2>/dev/null
}
trap cleanup EXIT
if until_true 20 systemctl --user is-system-running --quiet 2>/dev/null; then ok "systemd --user is running"; else fail "systemd --user did not start: $(systemctl --user is-system-running 2>&1)"; exit 0; fi

# --- socket activation and readiness -------------------------------------------
if systemctl --user start "$sock"; then
  ok "$sock listens on 127.0.0.1:$port"
else
  fail "$sock did not start"
  systemctl --user status --no-pager "$sock" 2>&1 | sed 's/^/     /'
fi
if is_state inactive; then ok "$svc is inactive until the first connection"; else fail "$svc is $(state) before any connection"; fi
answer=$(ask)
if [[ $answer == "Hello, world!" ]]; then ok "the first connection started the service and got the proxied answer"; else fail "the first request answered '$answer'"; fi
props=$(systemctl --user show -p Type -p ActiveState -p StatusText -p NotifyAccess "$svc")
if grep -qx 'Type=notify' <<<"$props" && grep -qx 'ActiveState=active' <<<"$props"; then
  ok "$svc (Type=notify) is active: systemd received READY=1"
else
  fail "$svc after the first request: $props"
fi
# The answer's headers said 12 % and 3 %; STATUS= follows within a second.
status_text() { systemctl --user show -p StatusText --value "$svc"; }
if until_true 5 bash -c "[[ \$(systemctl --user show -p StatusText --value $svc) == 'ready · idle · 5h 12% · week 3%' ]]"; then
  ok "systemctl status shows our STATUS= with the login's windows: $(status_text)"
else
  fail "unexpected StatusText: '$(status_text)'"
fi

# --- the journal -----------------------------------------------------------------
journalctl --flush 2>/dev/null
record=$(journalctl --no-pager -o json SYSLOG_IDENTIFIER=codex-responses-proxy 2>/dev/null |
  jq -c 'select(.MESSAGE == "request finished")' | head -n 1)
if jq -e '(.REQUEST_ID | startswith("req_")) and .STATUS == "200" and .PRIORITY == "6"
          and (.DURATION_MS | tonumber) >= 0 and .PATH == "/v1/responses" and .MODEL == "gpt-5"
          and .TARGET == "codex_responses_proxy::http::bookkeeping"
          and .LIMIT_PRIMARY_PCT == "12" and .LIMIT_SECONDARY_PCT == "3"
          and .CLIENT == "other" and (.FIRST_EVENT_MS | tonumber) >= 0
          and .INPUT_TOKENS == "12" and .CACHED_INPUT_TOKENS == "0" and .OUTPUT_TOKENS == "5"' <<<"$record" >/dev/null 2>&1; then
  ok "the request's journal record has REQUEST_ID, STATUS=200, PRIORITY=6, DURATION_MS, PATH, MODEL, TARGET, LIMIT_PRIMARY_PCT=12, LIMIT_SECONDARY_PCT=3, CLIENT, FIRST_EVENT_MS and the token counts"
else
  fail "no structured 'request finished' record in the journal: '$record'"
  journalctl --no-pager -n 20 2>&1 | sed 's/^/     /'
fi
if jq -e '.PRIORITY == "6" and .TARGET == "codex_responses_proxy::systemd"' < <(
  journalctl --no-pager -o json SYSLOG_IDENTIFIER=codex-responses-proxy MESSAGE=ready 2>/dev/null | head -n 1) >/dev/null 2>&1; then
  ok "the daemon writes natively to journald (stderr is the journal stream): 'ready' record with TARGET"
else
  fail "no native 'ready' record"
fi

# A window passing 90 % is one WARNING record, however many answers say so.
echo "primary 93" >&9
until_true 5 grep -q "primary window now 93% used" "$work/mock.out" || fail "the mock did not take the new window"
ask >/dev/null
ask >/dev/null
journalctl --flush 2>/dev/null
warnings=$(journalctl --no-pager -o json SYSLOG_IDENTIFIER=codex-responses-proxy PRIORITY=4 2>/dev/null |
  jq -c 'select(.LIMIT_LEVEL == "nearing")')
if [[ $(grep -c . <<<"$warnings") == 1 ]] && jq -e '.LIMIT_USED_PCT == "93" and .LIMIT_FAMILY == "codex"
    and .LIMIT_WINDOW == "5-hour" and (.MESSAGE | startswith("the 5-hour window is 93% used, resets "))' <<<"$warnings" >/dev/null 2>&1; then
  ok "one WARNING record (PRIORITY=4) when the 5-hour window passed 90 %: $(jq -r .MESSAGE <<<"$warnings")"
else
  fail "no single nearing-limit WARNING record: '$warnings'"
fi
echo "primary 12" >&9
until_true 5 grep -q "primary window now 12% used" "$work/mock.out" || fail "the mock did not take the window back"

# --- systemctl stop drains a stream in flight -----------------------------------------
echo "pace 400" >&9
until_true 5 grep -q "next answer paced 400 ms" "$work/mock.out" || fail "the mock did not take the pace"
curl -s -N -m 30 "$url/v1/responses" -H 'content-type: application/json' \
  -d '{"model":"gpt-5","input":"hello","stream":true}' >"$work/stream.out" 2>&1 &
streamer=$!
until_true 10 grep -q response.created "$work/stream.out" || fail "the slow stream did not begin"
started=$(date +%s%N)
systemctl --user stop "$svc" 2>/dev/null # it warns that the socket can start it again
took=$((($(date +%s%N) - started) / 1000000))
wait "$streamer"
curl_rc=$?
if [[ $curl_rc == 0 ]] && grep -q response.completed "$work/stream.out"; then
  ok "systemctl --user stop waited ${took} ms for the stream in flight, which completed"
else
  fail "the stream in flight was cut by the stop (curl $curl_rc): $(tail -c 300 "$work/stream.out")"
fi
result=$(systemctl --user show -p Result -p ExecMainStatus "$svc" | tr '\n' ' ')
if [[ $result == "Result=success ExecMainStatus=0 " ]]; then ok "the service stopped cleanly ($result)"; else fail "after stop: $result"; fi

# --- idle exit, and the next request starts the service again ----------------------
answer=$(ask)
if [[ $answer == "Hello, world!" ]]; then ok "a request after the stop started the service again"; else fail "the request after the stop answered '$answer'"; fi
kept=$(curl -s -m 20 "$url/v1/responses" -H 'content-type: application/json' -d '{"model":"gpt-5","input":"remember"}' | jq -r .id)
db=$(ls "$XDG_STATE_HOME/codex-responses-proxy/responses.sqlite3" "$XDG_CONFIG_HOME/codex-responses-proxy/responses.sqlite3" 2>/dev/null | head -n 1)
if [[ $kept == resp_* && -n $db && $(stat -c %a "$db") == 600 && $(stat -c %a "$(dirname "$db")") == 700 ]]; then
  ok "the answer $kept is stored in the StateDirectory= through the sandbox: $db (0600, directory 0700)"
else
  fail "no stored answer (id '$kept') in StateDirectory=: '$db'"
fi
# WatchdogSec=2s (short, to be seen within the test; not so short that a
# moment of a busy machine trips it): still active 3 s later, never
# restarted, and the time of the last ping moving on means the pings arrive.
ping() { systemctl --user show -p WatchdogTimestampMonotonic --value "$svc"; }
first_ping=$(ping)
until_true 3 bash -c "[[ \$(systemctl --user show -p ActiveState --value $svc) != active ]]"
restarts=$(systemctl --user show -p NRestarts --value "$svc")
if is_state active && [[ $restarts == 0 && $(ping) -gt ${first_ping:-0} ]]; then
  ok "the service is still active past a WatchdogSec period, never restarted: the watchdog is fed"
else
  fail "$svc is $(state) within its idle_exit (NRestarts=$restarts, Result=$(systemctl --user show -p Result --value "$svc"))"
fi
if until_true 15 is_state inactive; then
  ok "after idle_exit (4s) without requests the service is inactive"
else
  fail "$svc is still $(state) after idle_exit"
fi
result=$(systemctl --user show -p Result -p ExecMainStatus "$svc" | tr '\n' ' ')
if [[ $result == "Result=success ExecMainStatus=0 " ]]; then ok "idle exit is a clean exit ($result)"; else fail "after idle exit: $result"; fi
if [[ $(systemctl --user show -p ActiveState --value "$sock") == active ]]; then ok "$sock still listens"; else fail "$sock is not active after idle exit"; fi
answer=$(ask)
if [[ $answer == "Hello, world!" ]] && is_state active; then ok "the next request started the service again and got its answer"; else fail "after idle exit the request answered '$answer' (service $(state))"; fi
got=$(curl -s -m 20 "$url/v1/responses/$kept" | jq -r .id)
next=$(curl -s -m 20 "$url/v1/responses" -H 'content-type: application/json' \
  -d "{\"model\":\"gpt-5\",\"input\":\"and now?\",\"previous_response_id\":\"$kept\"}" | jq -r .previous_response_id)
if [[ $got == "$kept" && $next == "$kept" ]]; then
  ok "after idle exit and re-activation the stored answer is retrieved and continued by previous_response_id"
else
  fail "after idle exit: GET /v1/responses/$kept gave '$got', continuing it gave previous_response_id '$next'"
fi

# --- the measurement -------------------------------------------------------------------
if ((measure > 0)); then
  time_one() {
    local out
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -m 20 "$url/v1/responses" -H 'content-type: application/json' -d '{"model":"gpt-5","input":"hello"}')
    [[ $out == "200 "* ]] || fail "a measured request answered: $out"
    echo "${out#200 }"
  }
  median() { sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f ms (min %.1f, max %.1f, n=%d)", m*1000, a[1]*1000, a[NR]*1000, NR}'; }
  for _ in $(seq "$measure"); do
    systemctl --user stop "$svc" 2>/dev/null
    until_true 10 is_state inactive || fail "$svc is $(state) after stop"
    time_one
    # The daemon's own share: from exec to READY=1, as systemd saw it.
    systemctl --user show -p ExecMainStartTimestampMonotonic -p ActiveEnterTimestampMonotonic "$svc" |
      awk -F= '/^ExecMain/ {s=$2} /^ActiveEnter/ {a=$2} END {printf "%.6f\n", (a-s)/1e6}' >>"$work/ready.txt"
  done >"$work/cold.txt"
  time_one >/dev/null
  for _ in $(seq "$measure"); do time_one; done >"$work/warm.txt"
  echo "measure cold (inactive service, first connection to complete answer): $(median <"$work/cold.txt")"
  echo "measure warm (same request to the running daemon):                   $(median <"$work/warm.txt")"
  echo "measure of cold, the daemon's exec to READY=1 (systemd's timestamps):  $(median <"$work/ready.txt")"
fi

systemctl --user stop "$sock"
if until_true 20 is_state inactive; then ok "stopping $sock leaves the service inactive"; else fail "$svc still $(state) after its socket stopped"; fi
echo "done"
SH
cat "$work/run.log"
failures=$((failures + $(grep -c '^FAIL' "$work/run.log")))
grep -q '^done$' "$work/run.log" || {
  echo "FAIL the user-manager run did not finish"
  failures=$((failures + 1))
}
echo "$failures failure(s)"
exit $((failures > 0))
