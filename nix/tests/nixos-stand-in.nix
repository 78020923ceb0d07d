# The NixOS options nix/module.nix writes to, declared with the types nixpkgs gives them, so an
# evaluation with nixpkgs' `lib` alone rejects what a real NixOS evaluation rejects (a wrong
# type, an unknown unit key value, an option that does not exist). Only the options this
# project's module touches are declared; each block names the nixpkgs file it mirrors (read in
# NixOS/nixpkgs; the pinned revision itself is not in the search index, so the stored versions
# were read). `utils` mirrors nixos/lib/utils.nix for the one function the module uses.
{ lib, pkgs }:
let
  inherit (lib) mkOption types;

  # nixos/lib/systemd-lib.nix: unitNameType, assertValueOneOf, checkUnitConfig.
  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";
  unitNames = mkOption {
    type = types.listOf unitNameType;
    default = [ ];
  };
  # Lines of configuration, empty unless set (types.lines concatenates definitions).
  linesOption = mkOption {
    type = types.lines;
    default = "";
  };
  assertValueOneOf =
    name: values: group: attr:
    lib.optional (
      attr ? ${name} && !lib.elem attr.${name} values
    ) "Systemd ${group} field `${name}' cannot have value `${toString attr.${name}}'.";
  checkUnitConfig =
    group: checks: attrs:
    let
      defs = lib.mapAttrs (
        _: v: if v._type or "" == "override" || v._type or "" == "if" then v.content else v
      ) attrs;
      errors = lib.concatMap (c: c group defs) checks;
    in
    if errors == [ ] then true else builtins.trace (lib.concatStringsSep "\n" errors) false;

  # nixos/lib/systemd-unit-options.nix: unitOption (lists concatenate, scalars must agree),
  # checkService, and the serviceConfig type built from them.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.isList (lib.head defs').value then
        lib.concatMap (
          def:
          if builtins.typeOf def.value == "list" then
            def.value
          else
            throw "The definitions for systemd unit options should be either all lists, representing repeatable options, or all non-lists, but for the option ${lib.showOption loc}, the definitions are a mix of list and non-list ${lib.options.showDefs defs'}"
        ) defs'
      else
        lib.mergeEqualOption loc defs';
  };
  checkService = checkUnitConfig "Service" [
    (assertValueOneOf "Type" [
      "exec"
      "simple"
      "forking"
      "oneshot"
      "dbus"
      "notify"
      "notify-reload"
      "idle"
    ])
    (assertValueOneOf "Restart" [
      "no"
      "on-success"
      "on-failure"
      "on-abnormal"
      "on-abort"
      "always"
    ])
  ];
  serviceType = types.submodule {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      description = mkOption {
        type = types.singleLineStr;
        default = "";
      };
      wantedBy = unitNames;
      requiredBy = unitNames;
      after = unitNames;
      before = unitNames;
      requires = unitNames;
      wants = unitNames;
      bindsTo = unitNames;
      environment = mkOption {
        type =
          with types;
          attrsOf (
            nullOr (oneOf [
              str
              path
              package
            ])
          );
        default = { };
      };
      path = mkOption {
        type =
          with types;
          listOf (oneOf [
            package
            str
          ]);
        default = [ ];
      };
      serviceConfig = mkOption {
        type = types.addCheck (types.attrsOf unitOption) checkService;
        default = { };
      };
      script = linesOption;
      preStart = linesOption;
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
    };
  };

  # nixos/modules/config/users-groups.nix (the options the module sets, with their types).
  userType = types.submodule (
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.passwdEntry types.str;
          default = name;
        };
        isSystemUser = mkOption {
          type = types.bool;
          default = false;
        };
        isNormalUser = mkOption {
          type = types.bool;
          default = false;
        };
        group = mkOption {
          type = types.str;
          default = "";
        };
        extraGroups = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        home = mkOption {
          type = types.passwdEntry types.path;
          default = "/var/empty";
        };
        description = mkOption {
          type = types.passwdEntry types.str;
          default = "";
        };
      };
    }
  );
  groupType = types.submodule (
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.passwdEntry types.str;
          default = name;
        };
        gid = mkOption {
          type = with types; nullOr int;
          default = null;
        };
        members = mkOption {
          type = with types; listOf (passwdEntry str);
          default = [ ];
        };
      };
    }
  );

  # nixos/modules/services/web-servers/nginx/{default,vhost-options,location-options}.nix.
  locationType = types.submodule {
    options = {
      proxyPass = mkOption {
        type = with types; nullOr str;
        default = null;
      };
      proxyWebsockets = mkOption {
        type = types.bool;
        default = false;
      };
      return = mkOption {
        type =
          with types;
          nullOr (oneOf [
            str
            int
          ]);
        default = null;
      };
      extraConfig = linesOption;
    };
  };
  vhostType = types.submodule {
    options = {
      serverName = mkOption {
        type = with types; nullOr str;
        default = null;
      };
      forceSSL = mkOption {
        type = types.bool;
        default = false;
      };
      enableACME = mkOption {
        type = types.bool;
        default = false;
      };
      locations = mkOption {
        type = types.attrsOf locationType;
        default = { };
      };
      extraConfig = linesOption;
    };
  };
  upstreamType = types.submodule {
    options = {
      servers = mkOption {
        type = types.attrsOf (
          types.submodule {
            freeformType = types.attrsOf (
              types.oneOf [
                types.bool
                types.int
                types.str
              ]
            );
            options.backup = mkOption {
              type = types.bool;
              default = false;
            };
          }
        );
        default = { };
      };
      extraConfig = linesOption;
    };
  };

  # nixos/modules/services/databases/redis.nix: a named server's defaults.
  redisServerType = types.submodule (
    { name, config, ... }:
    {
      options = {
        enable = lib.mkEnableOption "Redis server";
        user = mkOption {
          type = types.str;
          default = "redis-${name}";
        };
        group = mkOption {
          type = types.str;
          default = config.user;
        };
        port = mkOption {
          type = types.port;
          default = 0;
        };
        unixSocket = mkOption {
          type = types.nullOr types.path;
          default = "/run/redis-${name}/redis.sock";
        };
        unixSocketPerm = mkOption {
          type = types.int;
          default = 660;
        };
      };
    }
  );
in
{
  # nixos/lib/utils.nix (escapeSystemdExecArg / escapeSystemdExecArgs).
  utils = rec {
    escapeSystemdExecArg =
      arg:
      let
        s =
          if lib.isPath arg then
            "${arg}"
          else if lib.isString arg then
            arg
          else if lib.isInt arg || lib.isFloat arg || lib.isDerivation arg then
            toString arg
          else
            throw "escapeSystemdExecArg only allows strings, paths, numbers and derivations";
      in
      lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);
    escapeSystemdExecArgs = lib.concatMapStringsSep " " escapeSystemdExecArg;
  };

  module = {
    options = {
      # nixos/modules/misc/assertions.nix
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      # nixos/modules/system/boot/systemd.nix
      systemd.package = mkOption {
        type = types.package;
        default = pkgs.systemd;
      };
      systemd.services = mkOption {
        type = types.attrsOf serviceType;
        default = { };
      };
      users.users = mkOption {
        type = types.attrsOf userType;
        default = { };
      };
      users.groups = mkOption {
        type = types.attrsOf groupType;
        default = { };
      };
      # nixos/modules/config/system-path.nix
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      # nixos/modules/services/networking/firewall.nix
      networking.firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      services = {
        # nixos/modules/services/databases/postgresql.nix
        postgresql = {
          enable = lib.mkEnableOption "PostgreSQL";
          ensureDatabases = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
          ensureUsers = mkOption {
            type = types.listOf (
              types.submodule {
                options.name = mkOption { type = types.str; };
                options.ensureDBOwnership = mkOption {
                  type = types.bool;
                  default = false;
                };
              }
            );
            default = [ ];
          };
        };
        redis.servers = mkOption {
          type = types.attrsOf redisServerType;
          default = { };
        };
        nginx = {
          enable = lib.mkEnableOption "nginx";
          recommendedProxySettings = mkOption {
            type = types.bool;
            default = false;
          };
          commonHttpConfig = linesOption;
          # Rendered inside `events { }`, and last in the main context.
          eventsConfig = linesOption;
          appendConfig = linesOption;
          upstreams = mkOption {
            type = types.attrsOf upstreamType;
            default = { };
          };
          virtualHosts = mkOption {
            type = types.attrsOf vhostType;
            default = { };
          };
        };
      };
    };
  };

  # What nix/tests/vm-test.nix's node sets besides the module: nixos/modules/system/etc/etc.nix
  # (environment.etc.<name>, text/mode) and virtualisation/qemu-vm.nix (memorySize, MiB).
  vmTestOptions = {
    options = {
      environment.etc = mkOption {
        type = types.attrsOf (
          types.submodule {
            options = {
              text = mkOption {
                type = types.nullOr types.lines;
                default = null;
              };
              mode = mkOption {
                type = types.str;
                default = "symlink";
              };
              uid = mkOption {
                type = types.int;
                default = 0;
              };
              gid = mkOption {
                type = types.int;
                default = 0;
              };
            };
          }
        );
        default = { };
      };
      virtualisation.memorySize = mkOption {
        type = types.ints.positive;
        default = 1024;
      };
    };
  };

  # nixos/modules/misc/nixpkgs/read-only.nix: what a host with read-only pkgs (and
  # runNixOSTest's nodes by default) declares; setting nixpkgs.overlays there is an error, and
  # like the real module this one provides `pkgs` only after forcing nixpkgs.config/overlays.
  readOnlyNixpkgs =
    { config, ... }:
    {
      options.nixpkgs = {
        config = mkOption {
          internal = true;
          type = types.unique { message = "nixpkgs.config is set to read-only"; } types.anything;
        };
        overlays = mkOption {
          internal = true;
          type = types.unique { message = "nixpkgs.overlays is set to read-only"; } types.anything;
        };
      };
      config = {
        _module.args.pkgs = builtins.seq config.nixpkgs.config (builtins.seq config.nixpkgs.overlays pkgs);
        nixpkgs = {
          config = { };
          overlays = [ ];
        };
      };
    };
}
