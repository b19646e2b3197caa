# Evaluates nix/nixos-module.nix with the nixpkgs `lib` alone: stand-ins for
# the NixOS options it sets, and stub-pkgs.nix for `pkgs`.
{
  lib,
  pkgs,
  configuration,
}:

let
  inherit (lib) mkOption types;

  nixosStub = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      systemd.user.services = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
      systemd.user.sockets = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
      # The parts of nixpkgs' grafana module that nix/grafana.nix sets.
      services.grafana.provision.enable = mkOption {
        type = types.bool;
        default = false;
      };
      services.grafana.provision.dashboards.settings.providers = mkOption {
        type = types.listOf (types.attrsOf types.unspecified);
        default = [ ];
      };
    };
  };

  inherit
    (lib.evalModules {
      modules = [
        nixosStub
        ../nixos-module.nix
        { _module.args.pkgs = pkgs; }
        configuration
      ];
    })
    config
    ;
in
{
  grafana = {
    inherit (config.services.grafana.provision) enable;
    inherit (config.services.grafana.provision.dashboards.settings) providers;
  };
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  inherit (config) warnings;
  # The main instance's settings, as its TOML file gets them.
  inherit (config.services.codex-responses-proxy) settings;
  sockets = lib.mapAttrs (_: unit: {
    inherit (unit) unitConfig socketConfig wantedBy;
  }) config.systemd.user.sockets;
  services = lib.mapAttrs (_: unit: {
    inherit (unit) unitConfig;
    serviceConfig = removeAttrs unit.serviceConfig [ "ExecStart" ];
  }) config.systemd.user.services;
}
