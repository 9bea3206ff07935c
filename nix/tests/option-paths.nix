# Lists every option path and whether it has a description, by evaluating options.nix against a
# minimal stand-in for nixpkgs' `lib` (CI has no nixpkgs). Used by test/nix/options.test.ts.
let
  lib = import ./stub-lib.nix;
  module = import ../options.nix {
    inherit lib;
    pkgs = { };
    config.pantherOS.filesystems.impermanence = {
      performanceMode = "balanced";
      runtime = "node";
      subvolumes.persistent = "@persistent";
    };
  };
  walk =
    prefix: set:
    builtins.concatLists (
      map (
        name:
        let
          v = set.${name};
          path = if prefix == "" then name else "${prefix}.${name}";
        in
        if v._isOption or false then
          [
            {
              inherit path;
              described = builtins.isString (v.description or null) && v.description != "";
              # Plain defaults only (computed ones carry defaultText and need nixpkgs).
              default = if v ? defaultText || !(v ? default) || builtins.isAttrs v.default then null else { value = v.default; };
              type = v.type.name or "?";
            }
          ]
          ++ (if (v.type.sub or null) == null then [ ] else walk "${path}.<name>" v.type.sub)
        else
          walk path v
      ) (builtins.attrNames set)
    );
in
walk "" module.options
