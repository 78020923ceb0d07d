{
  description = "Flask JSON API with its build, dev shell, local stack, image and NixOS module";

  # The one input, locked in flake.lock. `nix flake update nixpkgs` moves it to the newest
  # commit of this branch; for the next release, change the branch here, then update.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  # This file only wires: each output is built by one file in nix/.
  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      # No x86_64-darwin: nixpkgs 26.05 is the last release to support it (it warns) and 26.11
      # throws on it, so listing it would break "change the branch, then update".
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "aarch64-darwin"
      ];

      # nixpkgs per system, with this flake's overlay (pkgs.flask-nix-stack).
      pkgsFor = lib.genAttrs systems (
        system:
        import nixpkgs {
          inherit system;
          overlays = [ self.overlays.default ];
        }
      );
      forAllSystems = f: lib.genAttrs systems (system: f pkgsFor.${system});
      linuxOnly = pkgs: lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux;

      vmTest = ./nix/tests/vm-test.nix;
      # Several hosts: database, two app hosts, a load balancer.
      vmClusterTest = ./nix/tests/vm-test-cluster.nix;

      # `nix run` (the process-compose stack) and `nix run .#migrate`.
      scriptsFor = pkgs: pkgs.callPackage ./nix/stack.nix { };
      app = drv: {
        type = "app";
        program = lib.getExe drv;
        meta.description = drv.meta.description;
      };
    in
    {
      overlays.default = final: _prev: {
        flask-nix-stack = final.callPackage ./nix/package.nix {
          # The NixOS VM test (needs KVM), as nixpkgs links a package to its nixosTests.
          passthruTests = linuxOnly final (
            lib.optionalAttrs (builtins.pathExists vmTest) {
              vm = import vmTest {
                pkgs = final;
                nixosModule = self.nixosModules.default;
              };
            }
            // lib.optionalAttrs (builtins.pathExists vmClusterTest) {
              vm-cluster = import vmClusterTest {
                pkgs = final;
                nixosModule = self.nixosModules.default;
              };
            }
          );
        };
      };

      # services.flask-nix-stack, its package defaulting to this flake's own build for the host
      # system (the locked nixpkgs, tested in its check phase). The module sets no nixpkgs.*
      # option, so it also works where pkgs is read-only (nixos/modules/misc/nixpkgs/
      # read-only.nix, runNixOSTest's default). overlays.default stays for those who want
      # pkgs.flask-nix-stack built against their own nixpkgs.
      nixosModules.default =
        { pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.flask-nix-stack.package =
            lib.mkDefault
              self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };

      packages = forAllSystems (
        pkgs:
        {
          default = pkgs.flask-nix-stack;
          server = pkgs.flask-nix-stack;
        }
        // linuxOnly pkgs {
          image = pkgs.callPackage ./nix/image.nix {
            revision = self.rev or self.dirtyRev or null;
            lastModifiedDate = self.lastModifiedDate or "19700101000001";
          };
        }
      );

      apps = forAllSystems (pkgs: {
        default = app (scriptsFor pkgs).stack;
        migrate = app (scriptsFor pkgs).migrate;
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.callPackage ./nix/devshell.nix { };
      });

      checks = forAllSystems (
        pkgs:
        let
          inherit (pkgs.stdenv.hostPlatform) system;
        in
        import ./nix/checks.nix {
          inherit lib pkgs;
          outputs = {
            package = self.packages.${system}.default;
            inherit (scriptsFor pkgs) stack migrate;
            devshell = self.devShells.${system}.default;
          }
          // linuxOnly pkgs { inherit (self.packages.${system}) image; }
          // pkgs.flask-nix-stack.tests;
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);

      # The whole repository is the template: `nix flake init -t` gives a working copy of this
      # project (server, tests, stack, Nix), and there is no second, trimmed copy to drift.
      templates.default = {
        path = ./.;
        description = "Flask JSON API: PostgreSQL, Redis, process-compose, image, NixOS module";
      };
    };
}
