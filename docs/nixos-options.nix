# The NixOS module's options as the NixOS manual lists them (lib.optionAttrSetToDocList), for
# the reference in docs/nixos-module.md (docs/generate.py). Only nixpkgs' lib is needed: the
# option declarations are read, the configuration the module defines is never evaluated.
{ lib }:
let
  evaluated = lib.evalModules {
    modules = [
      ../nix/module.nix
      {
        # The module's config writes to NixOS options (systemd, users, ...) that are not
        # declared here; listing options never forces it.
        _module.check = false;
        _module.args.pkgs = { };
      }
    ];
  };
  prefix = "services.flask-nix-stack.";
  # Defaults and examples come as literal Nix expressions ({ _type; text; }).
  literal = value: if value == null then null else value.text or (builtins.toJSON value);
  listed = option: lib.hasPrefix prefix option.name && option.visible && !option.internal;
  describe = option: {
    name = lib.removePrefix prefix option.name;
    inherit (option) description type readOnly;
    default = literal (option.default or null);
    example = literal (option.example or null);
  };
in
map describe (lib.filter listed (lib.optionAttrSetToDocList evaluated.options))
