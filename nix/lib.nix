# Pure generators shared by module.nix, disko.nix and the CI tests. Uses only `builtins` and is
# a plain attrset (not a function), so
# `nix-instantiate --eval --strict --json -E '(import ./nix/lib.nix).mountOptionsFor "balanced"'`
# works without nixpkgs.
let
  inherit (builtins)
    attrNames
    concatLists
    concatMap
    elem
    filter
    hasAttr
    isAttrs
    length
    listToAttrs
    map
    sort
    substring
    stringLength
    throw
    ;

  # Shallow-then-one-level merge: enough for the option shapes here (attrs of scalars/attrs).
  mergeDefaults =
    defaults: given:
    defaults
    // given
    // listToAttrs (
      map (name: {
        inherit name;
        value = defaults.${name} // given.${name};
      }) (filter (name: hasAttr name given && isAttrs defaults.${name} && isAttrs given.${name}) (attrNames defaults))
    );

  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;

  # The engine's config schema (src/config/schema.ts) as POSIX extended regular expressions
  # (builtins.match, whole string). A subvolume path is relative to the top level: "/"-separated
  # components, none empty, "." or "..", no newline anywhere (Nix strings cannot hold NUL, the other
  # byte the engine refuses), and no leading "-" (it would read as a btrfs flag). The option types
  # in options.nix use these; test/nix/option-types.test.ts checks them against the engine.
  subvolumeComponent = first: "(\\.\\.[^/\n]+|\\.[^./\n][^/\n]*|[^${if first then "-" else ""}./\n][^/\n]*)";
  subvolumePathRegex = "${subvolumeComponent true}(/${subvolumeComponent false})*";
  # A systemd unit name the engine accepts in persistentTree units (src/config/schema.ts).
  unitNameRegex = "[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*[.](service|socket|timer|target|path|mount|slice|scope)";
  isSubvolumePath = s: builtins.isString s && builtins.match subvolumePathRegex s != null;
  # An absolute path: anything that starts with "/".
  absolutePathRegex = "/.*";
  isUnder = parent: path: path == parent || hasPrefix (if parent == "/" then "/" else "${parent}/") path;
  unique = list: builtins.foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ] list;

  performanceModes = [
    "balanced"
    "io-optimized"
    "space-optimized"
  ];

  checkMode =
    mode:
    if elem mode performanceModes then
      mode
    else
      throw "pantherOS.filesystems.impermanence.performanceMode: unknown mode \"${toString mode}\" (expected one of: balanced, io-optimized, space-optimized)";

  # Btrfs-specific options are FILESYSTEM-WIDE: the first mount of the filesystem decides them and
  # later subvolume mounts cannot change them. Every mount of the filesystem therefore carries
  # exactly this list (see mountOptionsFor); per-path differences use perPathAttributes instead.
  # Reasons, per option:
  #   compress=zstd:1        transparent compression, level 1: halves the bytes stored for typical
  #                          data. Measured (npm run bench): it costs time on a fast disk (+28 %
  #                          sequential writes, +47 % unpacking a tree on 2 cores); it buys space,
  #                          not speed. btrfs' heuristic skips data that does not compress.
  #   compress-force=zstd:3  compress every extent (plain `compress` marks a file incompressible
  #                          after one bad first chunk); level 3 = zstd's default ratio/speed point;
  #                          extents that do not shrink are still stored uncompressed.
  #   (no compress)          io-optimized: compressed extents are capped at 128 KiB, which
  #                          fragments random-overwrite workloads and costs CPU on every read;
  #                          log directories get compression per path instead.
  # Removed after measuring (npm run bench, bench/results/results.md): space_cache=v2 and
  # discard=async gave a mount identical to the defaults — the free-space tree is the mkfs default
  # since btrfs-progs 5.15 and discard=async the kernel default on discard-capable devices since
  # 6.2 — so they did not earn a place in any profile. A filesystem older than that can still be
  # given them once, by hand (mount -o remount,space_cache=v2 converts it for good).
  # Deliberately absent: ssd/nossd (btrfs detects non-rotational devices itself, and `nossd` has
  # nothing to do with journaling — btrfs has no journal to disable), nodatacow/nodatasum
  # (filesystem-wide they disable checksums AND compression; databases get `chattr +C` per path),
  # autodefrag (rewrites extents and unshares them from snapshots, inflating snapshot space),
  # commit=N (the 30 s default bounds data loss; databases fsync themselves; > 300 s warns).
  btrfsOptionsFor =
    mode:
    {
      balanced = [
        "compress=zstd:1"
      ];
      io-optimized = [ ];
      space-optimized = [
        "compress-force=zstd:3"
      ];
    }
    .${checkMode mode};

  # Generic VFS options (per mount point, not per filesystem), applied to every mount:
  #   noatime  reading a file must not write metadata: with snapshots every atime update would
  #            copy-on-write the metadata block and unshare it from all snapshots.
  genericOptions = [ "noatime" ];

  # The list every mount of the filesystem carries (plus `subvol=` and per-mount VFS extras).
  mountOptionsFor = mode: genericOptions ++ btrfsOptionsFor mode;

  # Options the kernel treats as btrfs-specific (filesystem-wide); everything else in a mount
  # option list is generic VFS or subvolume selection. Used by the tests and the module assertions.
  btrfsSpecificOptionNames = [
    "compress"
    "compress-force"
    "ssd"
    "nossd"
    "ssd_spread"
    "nossd_spread"
    "space_cache"
    "nospace_cache"
    "discard"
    "nodiscard"
    "autodefrag"
    "noautodefrag"
    "commit"
    "nodatacow"
    "datacow"
    "nodatasum"
    "datasum"
    "flushoncommit"
    "noflushoncommit"
    "barrier"
    "nobarrier"
    "thread_pool"
    "max_inline"
    "fatal_errors"
    "degraded"
    "skip_balance"
    "clear_cache"
    "rescue"
    "user_subvol_rm_allowed"
    "acl"
    "noacl"
    "treelog"
    "notreelog"
    "enospc_debug"
    "check_int"
    "device"
  ];
  optionName = opt: builtins.head (builtins.split "=" opt);
  isBtrfsSpecific = opt: elem (optionName opt) btrfsSpecificOptionNames;

  # Per-path behaviour that differs from the filesystem-wide options, applied by the module's
  # `pantheros-rollback-attributes` unit (chattr / btrfs property) to persistent paths only:
  #   nocow          `chattr +C` on the directory: files created in it afterwards are rewritten in
  #                  place (no COW fragmentation for random-overwrite database pages). This also
  #                  turns off btrfs checksums and compression for those files — the databases
  #                  keep their own page checksums. Existing non-empty files are not converted.
  #   compress-zstd  `btrfs property set DIR compression zstd`: new files there are compressed even
  #                  though the filesystem is mounted without compression (append-only text logs
  #                  shrink ~5-10x).
  #   no-compress    `btrfs property set DIR compression none`: already-compressed data (backups,
  #                  media) skips the compression attempt.
  attributeKinds = [
    "nocow"
    "compress-zstd"
    "no-compress"
  ];
  databasePaths = {
    "/var/lib/postgresql" = "nocow";
    "/var/lib/mysql" = "nocow";
  };
  perPathAttributes =
    mode:
    {
      balanced = databasePaths;
      io-optimized = databasePaths // {
        "/var/lib/libvirt/images" = "nocow";
        "/var/log" = "compress-zstd";
      };
      # Space first: databases stay copy-on-write so that they are compressed and checksummed.
      space-optimized = {
        "/var/backup" = "compress-zstd";
      };
    }
    .${checkMode mode};

  # The argv that applies one attribute (run by a oneshot unit after local-fs.target).
  attributeCommand =
    path: kind:
    {
      nocow = [
        "chattr"
        "+C"
        path
      ];
      compress-zstd = [
        "btrfs"
        "property"
        "set"
        path
        "compression"
        "zstd"
      ];
      no-compress = [
        "btrfs"
        "property"
        "set"
        path
        "compression"
        "none"
      ];
    }
    .${kind};

  # --- Defaults (identical to the engine's src/config/load-config.ts DEFAULTS) ----------------
  defaultSubvolumes = {
    root = "@root";
    blank = "@root-blank";
    oldRoots = "@btrfs_tmp/old_roots";
    snapshots = "@snapshots";
    # State rollback (issue 14): archived states of persistent subvolumes, one directory each.
    oldState = "@btrfs_tmp/old_state";
    nix = "@nix";
    persistent = "@persistent";
  };

  # The design's persistent tree: mount point → settings. Subvolume names default to
  # `<persistent>/<path without leading slash>`, so /persistent mirrors the real paths.
  # neededForBoot: /var/log so journald in stage 1/early stage 2 writes to the persistent log.
  defaultPersistentTree = {
    "/var/log" = {
      neededForBoot = true;
      options = [
        "nodev"
        "nosuid"
        "noexec"
      ];
    };
    "/var/lib/services" = {
      options = [
        "nodev"
        "nosuid"
      ];
    };
    "/var/lib/caddy" = {
      options = [
        "nodev"
        "nosuid"
      ];
    };
    # Container storage needs device nodes and setuid binaries inside images: no nodev/nosuid.
    "/var/lib/containers" = { };
    "/var/backup" = {
      options = [
        "nodev"
        "nosuid"
        "noexec"
      ];
    };
    "/home" = {
      options = [
        "nodev"
        "nosuid"
      ];
    };
  };

  defaultSystemState = {
    enable = true;
    directories = [
      "/var/lib/nixos"
      "/var/lib/systemd"
    ];
    files = [ "/etc/machine-id" ];
  };

  defaults = {
    device = null;
    deviceTimeoutSeconds = 30;
    performanceMode = "balanced";
    subvolumes = defaultSubvolumes;
    oldRoots = {
      keepDays = 30;
      keepAtLeast = 5;
      minFreePercent = 10;
      ageOutSeconds = 60;
    };
    targetMaxNested = 1000;
    snapshotRetention = {
      hourly = 24;
      daily = 7;
      weekly = 4;
      monthly = 6;
      # Snapshots taken before every NixOS activation (state rollback after a bad deploy).
      activation = 10;
    };
    # null = the persistent subvolume and every subvolume of the persistent tree (snapshots do
    # not recurse into nested subvolumes, so @persistent alone would miss them).
    snapshotSubvolumes = null;
    persistentTree = defaultPersistentTree;
    systemState = defaultSystemState;
  };

  # The module's option values (or any subset, for tests) with defaults filled in.
  normalize = cfg: mergeDefaults defaults cfg;

  treeEntry =
    persistent: path: entry:
    {
      enable = true;
      neededForBoot = false;
      options = [ ];
      units = [ ];
      subvolume = persistent + path;
    }
    // entry;

  # Enabled persistent-tree entries, sorted by mount point (parents before children).
  persistentTreeOf =
    cfg:
    let
      c = normalize cfg;
      paths = sort builtins.lessThan (attrNames c.persistentTree);
      entries = map (path: { inherit path; } // treeEntry c.subvolumes.persistent path c.persistentTree.${path}) paths;
    in
    filter (e: e.enable) entries;

  systemStateOf =
    cfg:
    let
      c = normalize cfg;
      s = defaultSystemState // c.systemState;
    in
    if s.enable then s else s // { directories = [ ]; files = [ ]; };

  # The subvolume layout used by both the module (fileSystems) and disko: mount point → mount.
  # Every mount carries mountOptionsFor mode (btrfs options identical across the filesystem),
  # its own `subvol=`, and only generic VFS extras per mount.
  layout =
    cfg:
    let
      c = normalize cfg;
      sv = c.subvolumes;
      base = mountOptionsFor c.performanceMode;
      mount = subvolume: neededForBoot: extra: {
        inherit subvolume neededForBoot;
        options = base ++ [ "subvol=${subvolume}" ] ++ extra;
      };
      tree = persistentTreeOf c;
    in
    {
      "/" = mount sv.root true [ ];
      "/persistent" = mount sv.persistent true [
        "nodev"
        "nosuid"
      ];
    }
    // (if sv.nix == null then { } else { "/nix" = mount sv.nix true [ "nodev" ]; })
    // listToAttrs (
      map (e: {
        name = e.path;
        value = mount e.subvolume e.neededForBoot e.options;
      }) tree
    );

  # Every subvolume the layout needs at install time, parents first (disko creates them in this
  # order). The archive directory's parent and the snapshot root are subvolumes so that a
  # snapshot of @root never contains them.
  subvolumesToCreate =
    cfg:
    let
      c = normalize cfg;
      sv = c.subvolumes;
      parentOf = p: let parts = filter builtins.isString (builtins.split "/" p); in if length parts > 1 then builtins.head parts else null;
      oldRootsParent = parentOf sv.oldRoots;
    in
    unique (
      filter (x: x != null) [
        sv.root
        sv.nix
        sv.persistent
        sv.snapshots
      ]
      ++ (if oldRootsParent == null then [ sv.oldRoots ] else [ oldRootsParent ])
      ++ map (e: e.subvolume) (persistentTreeOf c)
    );

  # Shell commands that create the layout under a mounted top level ("$1"-style variable `top`):
  # every subvolume (parents as directories first), the archive directory and the read-only empty
  # blank snapshot. Idempotent, so disko's postCreateHook and a test's first boot can share it.
  installScript =
    cfg: top:
    let
      c = normalize cfg;
      sv = c.subvolumes;
      q = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
      createSubvolume = name: ''
        if ! btrfs subvolume show "${top}"/${q name} >/dev/null 2>&1; then
          mkdir -p "$(dirname "${top}"/${q name})"
          btrfs subvolume create "${top}"/${q name}
        fi
      '';
    in
    builtins.concatStringsSep "" (map createSubvolume (subvolumesToCreate c))
    + ''
      mkdir -p "${top}"/${q sv.oldRoots}
      if ! btrfs subvolume show "${top}"/${q sv.blank} >/dev/null 2>&1; then
        mkdir -p "$(dirname "${top}"/${q sv.blank})"
        btrfs subvolume snapshot -r "${top}"/${q sv.root} "${top}"/${q sv.blank}
      fi
    '';

  snapshotSubvolumesOf =
    cfg:
    let
      c = normalize cfg;
    in
    if c.snapshotSubvolumes != null then c.snapshotSubvolumes else unique ([ c.subvolumes.persistent ] ++ map (e: e.subvolume) (persistentTreeOf c));

  persistentPathsOf =
    cfg:
    let
      s = systemStateOf cfg;
    in
    sort builtins.lessThan (unique ([ "/persistent" ] ++ map (e: e.path) (persistentTreeOf cfg) ++ s.directories ++ s.files));

  # The module's option values → the engine's JSON config (src/config/schema.ts). A null device
  # is omitted (the module asserts one is set). Keys the engine does not know are never emitted.
  toolConfig =
    cfg:
    let
      c = normalize cfg;
    in
    (if c.device == null then { } else { inherit (c) device; })
    // {
      inherit (c) deviceTimeoutSeconds targetMaxNested;
      subvolumes = {
        inherit (c.subvolumes)
          root
          blank
          oldRoots
          snapshots
          oldState
          ;
      };
      oldRoots = {
        inherit (c.oldRoots)
          keepDays
          keepAtLeast
          minFreePercent
          ageOutSeconds
          ;
      };
      snapshotRetention = {
        inherit (c.snapshotRetention)
          hourly
          daily
          weekly
          monthly
          activation
          ;
      };
      snapshotSubvolumes = snapshotSubvolumesOf c;
      persistentPaths = persistentPathsOf c;
      # State rollback: mount point → subvolume, whether stage 1 needs it, the units to stop while it is swapped.
      persistentTree =
        [
          {
            path = "/persistent";
            subvolume = c.subvolumes.persistent;
            neededForBoot = true;
            units = [ ];
          }
        ]
        ++ map (e: {
          inherit (e)
            path
            subvolume
            neededForBoot
            units
            ;
        }) (persistentTreeOf c);
    };

  # Per-path attributes that apply to this host: only paths on persistent storage (a directory
  # on the wiped root would lose its attribute, and its data, at the next boot).
  applicableAttributes =
    cfg: attributes:
    let
      roots = [ "/persistent" ] ++ map (e: e.path) (persistentTreeOf cfg);
    in
    listToAttrs (
      map (path: {
        name = path;
        value = attributes.${path};
      }) (filter (path: builtins.any (r: isUnder r path) roots) (sort builtins.lessThan (attrNames attributes)))
    );
in
{
  inherit
    subvolumePathRegex
    unitNameRegex
    isSubvolumePath
    absolutePathRegex
    performanceModes
    btrfsOptionsFor
    genericOptions
    mountOptionsFor
    btrfsSpecificOptionNames
    isBtrfsSpecific
    optionName
    attributeKinds
    perPathAttributes
    attributeCommand
    applicableAttributes
    defaults
    defaultSubvolumes
    defaultPersistentTree
    defaultSystemState
    normalize
    persistentTreeOf
    systemStateOf
    layout
    subvolumesToCreate
    installScript
    snapshotSubvolumesOf
    persistentPathsOf
    toolConfig
    isUnder
    ;
}
