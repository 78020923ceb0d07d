# `nix flake check`: the package (its test suite runs in the build), lint and format of the
# Python, Nix and YAML sources, and on Linux the NixOS module (evaluation and VM test) and the
# image.
{
  lib,
  pkgs,
  # Attributes of the flake to build as checks as they are (package, app scripts, shell, image).
  outputs ? { },
}:

let
  root = ../.;

  # Python sources and the ruff settings in pyproject.toml.
  pythonSrc = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../server
      ../tests
      (lib.fileset.maybeMissing ../bench)
    ];
  };

  nixSrc = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.fileFilter (file: file.hasExt "nix") root;
  };

  # The YAML files, .yamllint.yaml (the linter's config) among them.
  yamlSrc = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.fileFilter (file: file.hasExt "yaml" || file.hasExt "yml") root;
  };

  # A check that runs a linter's script and passes when the script does.
  lint =
    name: tool: script:
    pkgs.runCommand "flask-nix-stack-${name}" { nativeBuildInputs = [ tool ]; } ''
      ${script}
      touch $out
    '';

  moduleEval = ./tests/module-eval.nix;
  moduleFailures = (import moduleEval { inherit lib; }).failures;
in
outputs
// {
  ruff = lint "ruff" pkgs.ruff ''
    cd ${pythonSrc}
    ruff check --no-cache .
    ruff format --no-cache --check --diff .
  '';

  yamllint = lint "yamllint" pkgs.yamllint ''
    cd ${yamlSrc}
    yamllint --strict .
  '';

  nixfmt = lint "nixfmt" pkgs.nixfmt ''
    find ${nixSrc} -name '*.nix' -print0 | xargs -0 nixfmt --check
  '';
}
// lib.optionalAttrs (pkgs.stdenv.hostPlatform.isLinux && builtins.pathExists moduleEval) {
  # nix/tests/module-eval.nix evaluates the module with lib alone and lists unmet expectations.
  module-eval =
    pkgs.runCommand "flask-nix-stack-module-eval"
      { failures = lib.generators.toPretty { } moduleFailures; }
      (
        if moduleFailures == [ ] || moduleFailures == { } then
          "touch $out"
        else
          ''
            echo "nix/tests/module-eval.nix: unmet expectations:" >&2
            echo "$failures" >&2
            exit 1
          ''
      );
}
