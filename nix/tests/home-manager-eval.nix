# Evaluates nix/home-manager-module.nix as home-manager does and collects the
# user units it renders into one directory.
#
# With `homeManager` (a home-manager checkout) the units are rendered by
# home-manager's own modules/systemd.nix; without it, by a small stand-in
# using the same INI rendering, so that `nix flake check` needs no second
# input. `pkgs` needs `formats.toml`, `writeTextFile` and `runCommand`.
{
  lib,
  pkgs,
  configuration,
  homeManager ? null,
}:

let
  hmLib =
    if homeManager == null then lib else import "${homeManager}/modules/lib/stdlib-extended.nix" lib;

  inherit (lib) mkOption types;

  # The parts of home-manager's option tree that modules/systemd.nix and our
  # module touch.
  homeStub = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      meta.maintainers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      home.homeDirectory = mkOption {
        type = types.str;
        default = "/home/test";
      };
      home.activation = mkOption {
        type = types.attrsOf types.unspecified;
        default = { };
      };
      xdg.configHome = mkOption {
        type = types.str;
        default = "/home/test/.config";
      };
      xdg.configFile = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
      xdg.dataFile = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
    };
  };

  # Stands in for modules/systemd.nix: the same option names, the same INI.
  systemdStub =
    { config, ... }:
    let
      unitsOption = mkOption {
        type = types.attrsOf (types.attrsOf (types.attrsOf types.unspecified));
        default = { };
      };
      toINI = lib.generators.toINI {
        listsAsDuplicateKeys = true;
        mkKeyValue = key: value: "${key}=${toString value}";
      };
      render =
        kind:
        lib.mapAttrs' (
          name: unit: {
            name = "systemd/user/${name}.${kind}";
            value.source =
              pkgs.writeTextFile {
                name = "${name}.${kind}";
                destination = "/${name}.${kind}";
                text = toINI (lib.mapAttrs (_: lib.mapAttrs (_: lib.toList)) unit);
              }
              + "/${name}.${kind}";
          }
        );
    in
    {
      options.systemd.user = {
        services = unitsOption;
        sockets = unitsOption;
      };
      config.xdg.configFile =
        render "service" config.systemd.user.services // render "socket" config.systemd.user.sockets;
    };

  evaluated = hmLib.evalModules {
    specialArgs.lib = hmLib;
    modules = [
      homeStub
      (if homeManager == null then systemdStub else "${homeManager}/modules/systemd.nix")
      ../home-manager-module.nix
      { _module.args.pkgs = pkgs; }
      configuration
    ];
  };

  inherit (evaluated) config;

  unitFiles = lib.filterAttrs (
    name: _: lib.hasPrefix "systemd/user/" name && lib.length (lib.splitString "/" name) == 3
  ) config.xdg.configFile;
in
{
  inherit (config) assertions warnings;

  # systemd/user/NAME.{socket,service}, as home-manager links them.
  units = pkgs.runCommand "home-manager-user-units" { } (
    ''
      mkdir -p $out
    ''
    + lib.concatStrings (
      lib.mapAttrsToList (name: file: ''
        cp ${file.source} $out/${baseNameOf name}
      '') unitFiles
    )
  );
}
