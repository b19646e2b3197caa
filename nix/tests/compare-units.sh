#!/usr/bin/env bash
# compare-units.sh CONTRIB_DIR RENDERED_DIR UNIT_NAME CODEX_HOME LISTEN...
#
# Checks that RENDERED_DIR/UNIT_NAME.{socket,service}, rendered by a module,
# carry key by key the settings of contrib/systemd/user/, once the unit name
# (also the StateDirectory=), CODEX_HOME and the listen addresses are those of
# the instance. ExecStart must run a store path's bin/codex-responses-proxy
# with --config.
set -euo pipefail

here=$(dirname "$0")
contrib=$1 rendered=$2 name=$3 home=$4
shift 4

keys() { awk -f "$here/unit-keys.awk" "$1"; }
esc() { printf '%s' "$1" | sed 's/[&|\\]/\\&/g'; }

status=0
for kind in socket service; do
  ref=$contrib/codex-responses-proxy.$kind
  out=$rendered/$name.$kind
  if [[ ! -f $out ]]; then
    echo "FAIL $name.$kind: not rendered"
    status=1
    continue
  fi
  exec_start=$(keys "$out" | sed -n 's/^Service\.ExecStart#1=//p')
  if [[ $kind == service && ! $exec_start =~ ^/nix/store/[^\ ]+/bin/codex-responses-proxy\ --config\ /nix/store/[^\ ]+\.toml( |$) ]]; then
    echo "FAIL $name.service: unexpected ExecStart=$exec_start"
    status=1
  fi
  expected=$(
    keys "$ref" |
      sed -e '/^Service\.ExecStart#/d' -e '/^Socket\.ListenStream#/d' \
        -e "s|codex-responses-proxy\.socket\$|$(esc "$name").socket|" \
        -e "s|^Service\.StateDirectory#1=codex-responses-proxy\$|Service.StateDirectory#1=$(esc "$name")|" \
        -e "s|%h/\.codex\$|$(esc "$home")|"
    if [[ $kind == socket ]]; then
      i=0
      for address in "$@"; do
        i=$((i + 1))
        echo "Socket.ListenStream#$i=$address"
      done
    fi
  )
  actual=$(keys "$out" | sed -e '/^Service\.ExecStart#/d')
  if diff -u --label "expected $name.$kind" --label "rendered $name.$kind" \
    <(LC_ALL=C sort <<<"$expected") <(LC_ALL=C sort <<<"$actual"); then
    echo "ok   $name.$kind agrees with contrib/systemd/user/codex-responses-proxy.$kind"
  else
    echo "FAIL $name.$kind differs from contrib/systemd/user/codex-responses-proxy.$kind"
    status=1
  fi
done
exit $status
