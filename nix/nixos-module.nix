# NixOS: user units for every enabled instance, installed for all users and
# run by the user managers of `users` (or of everyone).
{
  config,
  lib,
  pkgs,
  ...
}:

let
  shared = import ./options.nix {
    inherit lib pkgs;
    withUsers = true;
    withGrafana = true;
  };
  cfg = config.services.codex-responses-proxy;
  rendered = shared.renderedUnits cfg;
in
{
  imports = [ ./grafana.nix ];

  options.services.codex-responses-proxy = shared.option;

  config = lib.mkIf (rendered != [ ]) {
    assertions = shared.assertions cfg;
    warnings = shared.warnings cfg;

    systemd.user.sockets = lib.listToAttrs (
      map (unit: {
        inherit (unit) name;
        value = {
          unitConfig = unit.value.socket.Unit;
          socketConfig = unit.value.socket.Socket;
          wantedBy = unit.value.socket.Install.WantedBy;
        };
      }) rendered
    );

    systemd.user.services = lib.listToAttrs (
      map (unit: {
        inherit (unit) name;
        value = {
          unitConfig = unit.value.service.Unit;
          serviceConfig = unit.value.service.Service;
        };
      }) rendered
    );
  };
}
