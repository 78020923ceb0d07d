# A stand-in for nixpkgs' `lib.fileset` that records the expression instead of reading the file
# tree: lib.fileset needs builtins.readFileType (Nix 2.14+), which Debian's Nix 2.8 lacks.
# tests/nix/test_build_replay.py applies the recorded expression to the git-tracked files, as a
# flake (which copies only tracked files) followed by lib.fileset.toSource would. A function
# nix/package.nix starts to use and this file lacks fails the evaluation, so it is added here
# with its semantics rather than silently ignored.
let
  node =
    x:
    if builtins.isPath x then
      {
        op = "path";
        path = toString x;
      }
    else
      x;
in
{
  toSource =
    { root, fileset }:
    {
      op = "toSource";
      root = toString root;
      fileset = node fileset;
    };
  unions = items: {
    op = "unions";
    items = map node items;
  };
  union = a: b: {
    op = "unions";
    items = [
      (node a)
      (node b)
    ];
  };
  difference = a: b: {
    op = "difference";
    include = node a;
    exclude = node b;
  };
  maybeMissing = path: {
    op = "maybeMissing";
    path = toString path;
  };
}
