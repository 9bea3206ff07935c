# Lists every option path and whether it has a description, by evaluating options.nix against a
# minimal stand-in for nixpkgs' `lib` (CI has no nixpkgs). Used by test/nix/options.test.ts.
let
  mkOption = attrs: { _isOption = true; } // attrs;
  type = name: { inherit name; };
  types = {
    bool = type "bool";
    str = type "str";
    package = type "package";
    ints = {
      unsigned = type "unsigned";
      positive = type "positive";
      between = lo: hi: type "between";
    };
    strMatching = re: type "strMatching";
    enum = values: type "enum";
    nullOr = t: type "nullOr";
    listOf = t: type "listOf";
    attrsOf = t: type "attrsOf" // { sub = t.sub or null; };
    # The sub-options of a submodule, as declared for an entry called "<name>".
    submodule = m: type "submodule" // { sub = (m { name = "<name>"; }).options; };
  };
  lib = {
    inherit mkOption types;
    mkEnableOption = what: mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable ${what}.";
    };
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
  };
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
