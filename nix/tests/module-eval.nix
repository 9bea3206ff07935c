# Evaluates options.nix + module.nix against a small stand-in for nixpkgs' lib, pkgs and the module
# system (CI has no nixpkgs), so `nix-instantiate --eval --strict --json` catches typos, wrong
# arities and wiring mistakes, and test/nix/module.test.ts can assert on the generated config.
# It is NOT the NixOS module system: option types are not checked and merging is simplified
# (attrsets merge recursively, lists concatenate, mkDefault loses to a plain definition).
{
  # pantherOS.filesystems.impermanence values set by the host.
  host ? { },
  # Other config the module reads (boot.initrd.systemd.enable, services.openssh, fileSystems …).
  hostConfig ? { },
  # Which third-party modules are "imported": { preservation = true; impermanence = true; }.
  imported ? { },
}:
let
  inherit (builtins) attrNames concatLists filter foldl' isAttrs isList listToAttrs map replaceStrings;

  lib = import ./stub-lib.nix;
  inherit (lib) mapAttrs nameValuePair mapAttrsToList;

  # --- pkgs / utils ---------------------------------------------------------------------------
  fakePackage = name: {
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    inherit name;
  };
  pkgs = {
    bun = fakePackage "bun";
    nodejs-slim = fakePackage "nodejs-slim";
    btrfs-progs = fakePackage "btrfs-progs";
    coreutils = fakePackage "coreutils";
    e2fsprogs = fakePackage "e2fsprogs";
    util-linux = fakePackage "util-linux";
    callPackage = _: _: fakePackage "pantheros-rollback";
    writeShellScriptBin = name: text: fakePackage name // { inherit text; };
    # The rendered JSON travels in the fake store path after "#", so tests can read it back.
    formats.json = _: {
      generate = name: value: fakePackage "${name}#${builtins.toJSON value}";
    };
  };
  utils = rec {
    # systemd-escape --path, enough for device and mount paths.
    escapeSystemdPath =
      s:
      let
        trimmed = lib.removePrefix "/" s;
      in
      replaceStrings [ "/" "-" ] [ "-" "\\x2d" ] trimmed;
    pathsNeededForBoot = [ "/" "/nix" "/nix/store" "/var" "/var/log" "/var/lib" "/var/lib/nixos" "/etc" "/usr" ];
    fsNeededForBoot = fs: fs.neededForBoot || builtins.elem fs.mountPoint pathsNeededForBoot;
  };

  # --- A simplified module system --------------------------------------------------------------
  # Strips mkIf/mkMerge/mkDefault into a list of plain definitions (mkDefault marked).
  definitions =
    def:
    if isAttrs def && (def._type or null) == "if" then
      (if def.condition then definitions def.content else [ ])
    else if isAttrs def && (def._type or null) == "merge" then
      concatLists (map definitions def.contents)
    else
      [ def ];
  # What an attribute whose every definition is disabled (mkIf false) merges to; then removed.
  dropped = { _dropped = true; };
  isDefault = def: isAttrs def && (def._type or null) == "override";
  # Merges definitions: plain ones beat mkDefault ones; attrsets merge per attribute, lists concatenate.
  merge =
    defs:
    let
      expanded = concatLists (map definitions defs);
      plain = filter (d: !isDefault d) expanded;
      chosen = if plain != [ ] then plain else map (d: d.content) expanded;
      flat = concatLists (map definitions chosen);
    in
    if flat == [ ] then
      dropped
    else if builtins.all (d: isAttrs d && !(d ? outPath) && (d._type or null) == null) flat then
      let
        names = foldl' (acc: d: acc ++ filter (n: !(builtins.elem n acc)) (attrNames d)) [ ] flat;
      in
      listToAttrs (
        filter (nv: !(isAttrs nv.value && nv.value ? _dropped)) (map (n: nameValuePair n (merge (map (d: d.${n}) (filter (d: d ? ${n}) flat)))) names)
      )
    else if builtins.all isList flat then
      concatLists flat
    else
      builtins.elemAt flat (builtins.length flat - 1);

  optionDefaults =
    decl:
    if decl._isOption or false then
      decl.default or null
    else
      mapAttrs (_: optionDefaults) decl;

  moduleArgs = {
    inherit lib pkgs utils;
    config = final;
    options =
      (if imported.preservation or false then { preservation = { }; } else { })
      // {
        environment = if imported.impermanence or false then { persistence = { }; } else { };
      };
  };

  optionsModule = import ../options.nix moduleArgs;
  module = import ../module.nix moduleArgs;
  moduleConfig = module.config;

  defaultsOfCfg = optionDefaults optionsModule.options.pantherOS.filesystems.impermanence;
  # The tree entry submodule's defaults, per entry (what the module system would fill in).
  treeEntryDefaults =
    name:
    optionDefaults
      ((optionsModule.options.pantherOS.filesystems.impermanence.persistentTree.type.module or (_: { options = { }; }))
        { inherit name; }
      ).options;

  # The module's own definition of the default tree (first, unconditional element of its mkMerge).
  moduleTree =
    if (moduleConfig._type or null) == "if" then
      (builtins.head moduleConfig.content.contents).pantherOS.filesystems.impermanence.persistentTree
    else
      { };

  # Option defaults updated with the host's values without forcing any value (defaults such as
  # perPathAttributes read cfg themselves).
  groups = [ "subvolumes" "oldRoots" "snapshotRetention" "systemState" "scrub" "metrics" "snapshots" "initrd" ];
  moduleHostKeys = concatLists (
    map (
      e:
      if (e._type or null) == "if" && e.content ? services && e.content.services ? openssh && e.condition then
        e.content.services.openssh.hostKeys.content
      else
        [ ]
    ) (if (moduleConfig._type or null) == "if" then moduleConfig.content.contents else [ ])
  );

  cfgBase =
    defaultsOfCfg
    // host
    // listToAttrs (map (n: nameValuePair n (defaultsOfCfg.${n} // host.${n})) (filter (n: host ? ${n}) groups));
  cfg = cfgBase // {
    persistentTree = mapAttrs (name: entry: treeEntryDefaults name // entry) (merge [
      moduleTree
      (host.persistentTree or { })
    ]);
  };

  # Everything the host and the module define, merged (values are lazy; mkIf conditions only
  # read cfg and hostConfig, so there is no cycle).
  merged = merge [
    hostConfig
    moduleConfig
  ];

  fileSystems = mapAttrs (
    name: fs:
    {
      mountPoint = name;
      neededForBoot = false;
      fsType = "auto";
      options = [ ];
      device = null;
    }
    // fs
  ) (merged.fileSystems or { });

  # What `config` shows the module: a literal attrset, so reading cfg never forces `merged`.
  final = {
    pantherOS.filesystems.impermanence = cfg;
    inherit fileSystems;
    boot.initrd.systemd.enable = hostConfig.boot.initrd.systemd.enable or false;
    services.openssh = {
      enable = hostConfig.services.openssh.enable or false;
      # The host's keys, else the module's mkDefault ones (read from its definition directly:
      # going through `merged` here would be a cycle, since the warnings read this value).
      hostKeys = hostConfig.services.openssh.hostKeys or moduleHostKeys;
    };
    services.prometheus.exporters.node.enable = hostConfig.services.prometheus.exporters.node.enable or false;
    preservation.enable = hostConfig.preservation.enable or false;
  };
in
{
  inherit fileSystems cfg;
  boot = merged.boot or { };
  environment = merged.environment or { };
  systemd = merged.systemd or { };
  services = merged.services or { };
  preservation = merged.preservation or null;
  assertions = merged.assertions or [ ];
  warnings = merged.warnings or [ ];
  failedAssertions = map (a: a.message) (filter (a: !a.assertion) (merged.assertions or [ ]));
  # Scripts of writeShellScriptBin packages (JSON would only show their store paths).
  packageScripts = map (p: p.text or null) (merged.environment.systemPackages or [ ]);
}
