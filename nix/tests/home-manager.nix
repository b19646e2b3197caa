# The units nix/home-manager-module.nix renders, for one instance and for
# three, agree key by key with contrib/systemd/user/ and pass
# `systemd-analyze verify`. (.ci/nix-check does the same with home-manager's
# own modules/systemd.nix and runs them.)
{
  lib,
  pkgs,
  runCommand,
  systemd,
  gawk,
  package,
}:

let
  render =
    configuration:
    (import ./home-manager-eval.nix {
      inherit lib pkgs;
      configuration = {
        services.codex-responses-proxy = configuration // {
          inherit package;
        };
      };
    }).units;

  one = render { enable = true; };
  several = render {
    enable = true;
    instances.work.listen = [ "127.0.0.1:8788" ];
    instances.personal = {
      listen = [ "%t/codex-responses-proxy-personal.sock" ];
      codexHome = "%h/.codex-personal";
    };
  };
in
runCommand "codex-responses-proxy-home-manager-units"
  {
    nativeBuildInputs = [
      systemd
      gawk
    ];
  }
  ''
    export XDG_RUNTIME_DIR=$(mktemp -d)
    check() { bash ${./compare-units.sh} ${../../contrib/systemd/user} "$@"; }
    verify() {
      output=$(systemd-analyze --user verify "$@" 2>&1) || true
      if [ -n "$output" ]; then
        echo "$output"
        exit 1
      fi
    }

    check ${one} codex-responses-proxy %h/.codex 127.0.0.1:8787
    verify ${one}/*
    check ${several} codex-responses-proxy %h/.codex 127.0.0.1:8787
    check ${several} codex-responses-proxy-work %h/.codex-work 127.0.0.1:8788
    check ${several} codex-responses-proxy-personal %h/.codex-personal %t/codex-responses-proxy-personal.sock
    verify ${several}/*
    touch $out
  ''
