{
  description = "A localhost OpenAI Responses API endpoint backed by a ChatGPT/Codex subscription, as a systemd-native daemon";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: {
        codex-responses-proxy = final.callPackage ./nix/package.nix { };
      };

      # The modules default to `pkgs.codex-responses-proxy` when an overlay
      # provides it, else to nix/package.nix built with the system's nixpkgs.
      nixosModules.default = ./nix/nixos-module.nix;
      homeModules.default = ./nix/home-manager-module.nix;
      homeManagerModules = self.homeModules;

      packages = forAllSystems (pkgs: rec {
        codex-responses-proxy = pkgs.callPackage ./nix/package.nix { };
        default = codex-responses-proxy;
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.stdenv.hostPlatform.system}.default ];
          packages = with pkgs; [
            cargo
            rustc
            clippy
            rustfmt
            rust-analyzer
            nixfmt
            deadnix
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt);

      checks = forAllSystems (
        pkgs:
        let
          system = pkgs.stdenv.hostPlatform.system;
        in
        {
          package = self.packages.${system}.default;
          nixos = pkgs.testers.runNixOSTest ./nix/tests/nixos.nix;
          home-manager-units = pkgs.callPackage ./nix/tests/home-manager.nix {
            package = self.packages.${system}.default;
          };
        }
      );
    };
}
