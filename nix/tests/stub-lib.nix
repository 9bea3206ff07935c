# A small stand-in for the parts of nixpkgs' `lib` that nix/options.nix and nix/module.nix use,
# so CI (Debian's nix-bin, no nixpkgs) can evaluate them. mkIf/mkMerge/mkDefault only record what
# they wrap; nix/tests/module-eval.nix interprets them. Option types are names, not checks;
# a submodule type keeps its module (`module`) and its sub-options for an entry "<name>" (`sub`).
let
  inherit (builtins)
    attrNames
    concatLists
    concatStringsSep
    filter
    listToAttrs
    map
    replaceStrings
    substring
    stringLength
    ;
  mapAttrs = builtins.mapAttrs;
  nameValuePair = name: value: { inherit name value; };
  filterAttrs = pred: set: listToAttrs (filter (nv: pred nv.name nv.value) (map (n: nameValuePair n set.${n}) (attrNames set)));
  mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
  hasPrefix = p: s: substring 0 (stringLength p) s == p;
  escapeShellArg = s: "'" + replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
  mkOption = attrs: { _isOption = true; } // attrs;
  t = name: { inherit name; };
  types = {
    bool = t "bool";
    str = t "str";
    package = t "package";
    ints = {
      unsigned = t "unsigned";
      positive = t "positive";
      between = _: _: t "between";
    };
    strMatching = _: t "strMatching";
    enum = _: t "enum";
    nullOr = _: t "nullOr";
    listOf = _: t "listOf";
    attrsOf = elem: t "attrsOf" // { sub = elem.sub or null; module = elem.module or null; };
    submodule = m: t "submodule" // { module = m; sub = (m { name = "<name>"; }).options; };
  };
in
{
  inherit
    mapAttrs
    nameValuePair
    filterAttrs
    mapAttrsToList
    hasPrefix
    escapeShellArg
    concatStringsSep
    concatLists
    listToAttrs
    mkOption
    types
    ;
  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkDefault = content: {
    _type = "override";
    priority = 1000;
    inherit content;
  };
  optional = c: x: if c then [ x ] else [ ];
  optionals = c: xs: if c then xs else [ ];
  optionalAttrs = c: set: if c then set else { };
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  escapeShellArgs = list: concatStringsSep " " (map escapeShellArg list);
  "mapAttrs'" = f: set: listToAttrs (mapAttrsToList f set);
  removePrefix = p: s: if hasPrefix p s then substring (stringLength p) (stringLength s) s else s;
  sort = builtins.sort;
  subtractLists = e: filter (x: !(builtins.elem x e));
  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);
  mkEnableOption =
    what:
    mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable ${what}.";
    };
  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };
}
