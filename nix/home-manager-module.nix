# home-manager: user units for every enabled instance in
# ~/.config/systemd/user.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  shared = import ./options.nix { inherit lib pkgs; };
  cfg = config.services.codex-responses-proxy;
  rendered = shared.renderedUnits cfg;
in
{
  options.services.codex-responses-proxy = shared.option;

  config = lib.mkIf (rendered != [ ]) {
    assertions = shared.assertions cfg;
    warnings = shared.warnings cfg;

    systemd.user.sockets = lib.listToAttrs (
      map (unit: {
        inherit (unit) name;
        value = unit.value.socket;
      }) rendered
    );

    systemd.user.services = lib.listToAttrs (
      map (unit: {
        inherit (unit) name;
        value = unit.value.service;
      }) rendered
    );
  };
}
