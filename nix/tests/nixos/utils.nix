# Stand-in for nixpkgs' nixos/lib/utils.nix (the `utils` module argument): only what the modules
# evaluated here use, written from its documented behaviour. test/nix/nixos-eval.test.ts checks
# escapeSystemdPath against systemd-escape.
{ lib }:
let
  inherit (lib)
    concatMapStringsSep
    concatStringsSep
    elem
    filter
    hasPrefix
    isDerivation
    isFloat
    isInt
    isPath
    isString
    replaceStrings
    splitString
    stringToCharacters
    ;
in
rec {
  # Mount points NixOS always mounts in stage 1, whatever their neededForBoot (closed under parents).
  pathsNeededForBoot = [
    "/"
    "/nix"
    "/nix/store"
    "/var"
    "/var/log"
    "/var/lib"
    "/var/lib/nixos"
    "/etc"
    "/usr"
  ];
  fsNeededForBoot = fs: fs.neededForBoot || elem fs.mountPoint pathsNeededForBoot;

  # systemd.unit(5) path escaping as NixOS implements it: duplicate, leading and trailing "/" and
  # "." components dropped, "/" becomes "-", NixOS' set of ASCII punctuation (and "-") becomes
  # \xNN, a leading "." too; "/" itself is "-". A ".." that cannot be dropped is an error.
  escapeSystemdPath =
    s:
    let
      absolute = hasPrefix "/" s;
      components = filter (c: c != "" && c != ".") (splitString "/" s);
      kept =
        if absolute then
          (lib.foldl' (acc: c: if c == ".." && acc == [ ] then acc else acc ++ [ c ]) [ ] components)
        else
          components;
      simplified =
        if elem ".." kept then
          throw "escapeSystemdPath: ${s} is not a normalized path"
        else if kept != [ ] then
          concatStringsSep "/" kept
        else if absolute || s == "" then
          "/"
        else
          throw "escapeSystemdPath: ${s} is not a normalized path";
      escaped = lib.strings.escapeC (stringToCharacters " !\"#$%&'()*+,;<=>?@[\\]^`{|}~-") simplified;
      leadingDot = if hasPrefix "." escaped then "\\x2e" + lib.removePrefix "." escaped else escaped;
    in
    replaceStrings [ "/" ] [ "-" ] leadingDot;

  # One argument of an Exec*= line: a JSON string (systemd unquotes C-style), with % and $ doubled
  # so that neither specifiers nor environment variables expand.
  escapeSystemdExecArg =
    arg:
    let
      s =
        if isPath arg then
          "${arg}"
        else if isString arg then
          arg
        else if isInt arg || isFloat arg || isDerivation arg then
          toString arg
        else
          throw "escapeSystemdExecArg only allows strings, paths, numbers and derivations";
    in
    replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);
  escapeSystemdExecArgs = concatMapStringsSep " " escapeSystemdExecArg;
}
