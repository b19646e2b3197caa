# A stand-in for the few parts of nixpkgs the modules and
# home-manager-eval.nix use, so that they evaluate and render with the
# nixpkgs `lib` alone. Builders are /bin/sh scripts; `proxyBin` is a built
# binary wrapped as the package.
{
  lib,
  proxyBin ? "/bin/false",
  system ? builtins.currentSystem,
}:

let
  shell =
    name: env: script:
    derivation (
      {
        inherit name system;
        builder = "/bin/sh";
        args = [
          "-c"
          script
        ];
        PATH = "/usr/bin:/bin";
      }
      // env
    );

  # Keys with a JSON string, number, boolean or array (also TOML), then one
  # table of strings per attribute set (`model_aliases`).
  toTOML =
    settings:
    let
      tables = lib.filterAttrs (_: builtins.isAttrs) settings;
      plain = removeAttrs settings (builtins.attrNames tables);
      line = key: value: "${key} = ${builtins.toJSON value}\n";
      table =
        name: entries:
        "[${name}]\n" + lib.concatStrings (lib.mapAttrsToList (k: line (builtins.toJSON k)) entries);
    in
    lib.concatStrings (lib.mapAttrsToList line plain)
    + lib.concatStrings (lib.mapAttrsToList table tables);
in
rec {
  stdenv.hostPlatform = {
    inherit system;
    isLinux = true;
  };

  writeTextFile =
    {
      name,
      text,
      destination ? "",
      ...
    }:
    shell name { inherit text destination; } ''
      mkdir -p "$(dirname "$out$destination")"
      printf '%s' "$text" > "$out$destination"
    '';

  writeText = name: text: writeTextFile { inherit name text; };

  runCommand = shell;

  # modules/systemd.nix declares its settings with this type.
  formats.ini = _: {
    type = lib.types.attrsOf (lib.types.attrsOf lib.types.anything);
    generate = name: _: throw "stub-pkgs: formats.ini.generate ${name}";
  };

  formats.toml = _: {
    type = lib.types.attrsOf (
      lib.types.oneOf [
        lib.types.bool
        lib.types.int
        lib.types.str
        (lib.types.listOf lib.types.str)
        (lib.types.attrsOf lib.types.str)
      ]
    );
    generate = name: value: writeText name (toTOML value);
  };

  codex-responses-proxy =
    shell "codex-responses-proxy" { inherit proxyBin; } ''
      mkdir -p $out/bin
      ln -s "$proxyBin" $out/bin/codex-responses-proxy
    ''
    // {
      meta.mainProgram = "codex-responses-proxy";
    };
}
