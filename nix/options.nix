# Option declarations of pantherOS.filesystems.impermanence (no config here; see module.nix).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption mkEnableOption types literalExpression;
  nixLib = import ./lib.nix;
  cfg = config.pantherOS.filesystems.impermanence;

  # The value rules of the engine's config schema (src/config/schema.ts), as option types:
  # test/nix/option-types.test.ts runs both on one table of good and bad values.
  subvolumeType = types.strMatching nixLib.subvolumePathRegex // {
    description = "subvolume path relative to the top level (no leading or trailing /, no empty, . or .. component, no leading -, no newline)";
  };
  absolutePathType = types.strMatching nixLib.absolutePathRegex // {
    description = "absolute path";
  };

  subvolumeOption =
    default: what:
    mkOption {
      type = subvolumeType;
      inherit default;
      description = "Subvolume (path relative to the btrfs top level) that holds ${what}.";
    };

  treeEntry = types.submodule (
    { name, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Whether to create and mount this persistent path. Set to `false` to drop an entry of the default tree.";
        };
        subvolume = mkOption {
          type = subvolumeType;
          default = cfg.subvolumes.persistent + name;
          defaultText = literalExpression ''config.pantherOS.filesystems.impermanence.subvolumes.persistent + "<path>"'';
          description = "Subvolume mounted at this path. The default nests it under the persistent subvolume, so `/persistent<path>` shows the same data.";
        };
        neededForBoot = mkOption {
          type = types.bool;
          default = false;
          description = "Mount it in stage 1 (`fileSystems.<path>.neededForBoot`). Needed for `/var/log` (the journal) and anything stage-2 activation reads.";
        };
        units = mkOption {
          type = types.listOf (types.strMatching nixLib.unitNameRegex);
          default = [ ];
          example = [ "postgresql.service" ];
          description = ''
            systemd units that use this path. They get `RequiresMountsFor=` it, and `pantheros-rollback
            state-rollback` stops them while it swaps the subvolume back to a snapshot and starts them again
            afterwards (units that require the mount unit are found through systemd as well).
          '';
        };
        options = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [
            "nodev"
            "nosuid"
            "noexec"
          ];
          description = ''
            Extra **generic VFS** mount options for this mount only (`nodev`, `nosuid`, `noexec`, `ro`, …).
            Btrfs-specific options (`compress`, `ssd`, `commit`, `nodatacow`, …) are filesystem-wide and are
            rejected here by an assertion; use {option}`pantherOS.filesystems.impermanence.perPathAttributes`.
          '';
        };
      };
    }
  );
in
{
  options.pantherOS.filesystems.impermanence = {
    enable = mkEnableOption ''
      the btrfs root rollback: a fresh `/` from a read-only blank snapshot at every boot (the old root
      is archived), a persistent subvolume tree, timed snapshots, scrubbing and metrics
    '';

    device = mkOption {
      type = types.nullOr absolutePathType;
      default = null;
      example = "/dev/disk/by-label/nixos";
      description = ''
        The btrfs block device holding all subvolumes. Every mount of the layout uses it, and the initrd
        unit waits for its `.device` unit. Must be set (an assertion says so).
      '';
    };

    deviceTimeoutSeconds = mkOption {
      type = types.numbers.between 0 3600;
      default = 30;
      description = "How long the rollback waits for {option}`pantherOS.filesystems.impermanence.device` to appear.";
    };

    performanceMode = mkOption {
      type = types.enum nixLib.performanceModes;
      default = "balanced";
      example = "io-optimized";
      description = ''
        Mount options and per-path attributes for the workload (see the README table for the reason of
        every option). All mounts of the filesystem get the same btrfs options, because btrfs applies
        them filesystem-wide.

        - `balanced`: `noatime`, `compress=zstd:1`; databases under `/var/lib/postgresql` and
          `/var/lib/mysql` get `chattr +C`.
        - `io-optimized`: no filesystem-wide compression; `noatime`; databases and VM images
          `chattr +C`, `/var/log` compressed per path.
        - `space-optimized`: `compress-force=zstd:3`; databases stay copy-on-write (compressed,
          checksummed); `/var/backup` compressed per path.

        Measured (`npm run bench`): no mode is 20 % faster than btrfs defaults on any workload;
        `chattr +C` on a database directory is the one setting that speeds I/O (about 12 % on
        4 KiB writes with fsync). Compression trades write speed for half the space.
      '';
    };

    perPathAttributes = mkOption {
      type = types.attrsOf (types.enum nixLib.attributeKinds);
      # The mode's paths that this host keeps on persistent storage (so the default never warns).
      default = nixLib.applicableAttributes cfg (nixLib.perPathAttributes cfg.performanceMode);
      defaultText = literalExpression ''
        with (import ./nix/lib.nix);
        applicableAttributes cfg (perPathAttributes config.pantherOS.filesystems.impermanence.performanceMode)
      '';
      example = {
        "/var/lib/postgresql" = "nocow";
        "/var/log" = "compress-zstd";
      };
      description = ''
        Per-directory behaviour that differs from the filesystem-wide mount options, applied at every
        boot before `sysinit.target`: `nocow` (`chattr +C`: new files are overwritten in place, without
        checksums or compression), `compress-zstd` / `no-compress` (`btrfs property set DIR compression`).
        Only paths on persistent storage are applied (others would be wiped); a warning names the rest.
        The default takes the performance mode's paths that are on persistent storage.
      '';
    };

    runtime = mkOption {
      type = types.enum [
        "node"
        "bun"
      ];
      default = "node";
      description = ''
        The JavaScript runtime that runs the bundled tool, in the initrd and in the running system.
        `node` adds `pkgs.nodejs-slim` (about 27 MB compressed to the initrd), `bun` adds `pkgs.bun`
        (about 42 MB compressed; the trivial boot about 2.7× faster: README, Benchmarks). With `bun`
        the running system's command is Bun's executable of the bundle (`bun build --compile`, about
        110 MB in the system closure), because `bun FILE` reads `bunfig.toml`, `.env` and
        `tsconfig.json` from the directory it is started in (README, "Bun and the working directory").
      '';
    };

    runtimePackage = mkOption {
      type = types.package;
      default = if cfg.runtime == "bun" then pkgs.bun else pkgs.nodejs-slim;
      defaultText = literalExpression ''if runtime == "bun" then pkgs.bun else pkgs.nodejs-slim'';
      description = "The package providing `bin/node` or `bin/bun` for {option}`pantherOS.filesystems.impermanence.runtime`.";
    };

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The pantheros-rollback package: stage 1 runs its boot command alone (`lib/pantheros-rollback/pantheros-rollback-boot.mjs`, compiled at build time by default: {option}`pantherOS.filesystems.impermanence.initrd.startupSnapshot`), the running system its `pantheros-rollback.mjs` (every command).";
    };

    subvolumes = {
      root = subvolumeOption "@root" "the root file system `/`, replaced at every boot";
      blank = subvolumeOption "@root-blank" "the read-only, empty snapshot every new root is made from";
      oldRoots = subvolumeOption "@btrfs_tmp/old_roots" "the archived roots of previous boots (a directory of subvolumes)";
      snapshots = subvolumeOption "@snapshots" "the timed snapshots, one directory per class";
      oldState = subvolumeOption "@btrfs_tmp/old_state" "the states that state rollbacks replaced (`<oldState>/<encoded subvolume>/<time>`, aged out like archived roots)";
      persistent = subvolumeOption "@persistent" "`/persistent`, the parent of the persistent tree";
      nix = mkOption {
        type = types.nullOr subvolumeType;
        default = "@nix";
        description = "Subvolume mounted at `/nix`, or `null` to leave `/nix` to another definition (e.g. a VM test's shared store).";
      };
    };

    oldRoots = {
      keepDays = mkOption {
        type = types.numbers.nonnegative;
        default = 30;
        description = "Archived roots older than this many days may be deleted at boot …";
      };
      keepAtLeast = mkOption {
        type = types.ints.positive;
        default = 5;
        description = "… but the newest this many archives are always kept (and never the newest one).";
      };
      minFreePercent = mkOption {
        type = types.numbers.between 0 90;
        default = 10;
        description = "Free-space floor: when less than this percent of the filesystem is free (unallocated space included), archives beyond `keepAtLeast` are aged out at boot, oldest first, even within `keepDays`. 0 turns the floor off.";
      };
      ageOutSeconds = mkOption {
        type = types.numbers.between 1 3600;
        default = nixLib.defaults.oldRoots.ageOutSeconds;
        description = "The most time one boot spends deleting: ageing out archived roots (before the swap) and archived states, making room on a full filesystem and waiting for btrfs's cleaner, all together; what is left goes at the next boot. Anyone may create subvolumes in a root's `/tmp`, by the tens of thousands, and an archive holding them takes that many deletes. The stage-1 unit's `TimeoutStartSec` grows with it.";
      };
    };

    targetMaxNested = mkOption {
      type = types.ints.between 0 1000000;
      default = nixLib.defaults.targetMaxNested;
      description = "The most nested subvolumes a boot brings back with a root target (`pantheros.rollback=previous`, an archive or a snapshot), one snapshot and one transaction commit each. A target holding more is refused and the boot makes a fresh root from the blank; a local user can fill `/tmp` with subvolumes.";
    };

    snapshotRetention = lib.genAttrs [ "hourly" "daily" "weekly" "monthly" ] (
      class:
      mkOption {
        type = types.ints.unsigned;
        default = nixLib.defaults.snapshotRetention.${class};
        description = "How many ${class} snapshots of each snapshotted subvolume `prune` keeps (a count, not a time window; 0 disables the ${class} timer).";
      }
    ) // {
      activation = mkOption {
        type = types.ints.unsigned;
        default = nixLib.defaults.snapshotRetention.activation;
        description = ''
          How many `activation` snapshots of each snapshotted subvolume `prune` keeps: the module snapshots every
          persistent subvolume before each NixOS activation (`nixos-rebuild switch`, and every boot), so the state
          of a bad deploy can be rolled back with `pantheros-rollback state-rollback`. 0 turns them off.
        '';
      };
    };

    snapshotSubvolumes = mkOption {
      type = types.nullOr (types.listOf subvolumeType);
      default = null;
      example = [
        "@persistent"
        "@persistent/var/lib/postgresql"
      ];
      description = ''
        Subvolumes the snapshot timers snapshot. `null` means the persistent subvolume and every
        subvolume of the persistent tree: btrfs snapshots do not recurse, so a snapshot of
        `@persistent` alone would contain only empty stubs where the nested subvolumes are.
      '';
    };

    persistentTree = mkOption {
      type = types.attrsOf treeEntry;
      default = { };
      example = literalExpression ''
        {
          "/var/lib/postgresql" = { options = [ "nodev" "nosuid" ]; };
          "/var/lib/caddy".enable = false;
          "/home/alice" = { };
        }
      '';
      description = ''
        Mount point → subvolume under `@persistent`. The module adds the design's tree by default
        (entries merge with yours, each field with `mkDefault`): `/var/log` (neededForBoot, `nodev,nosuid,noexec`),
        `/var/lib/services`, `/var/lib/caddy`, `/var/lib/containers` (no `nodev`/`nosuid`: images carry
        device nodes and setuid binaries), `/var/backup` (`nodev,nosuid,noexec`) and `/home` (`nodev,nosuid`).
      '';
    };

    systemState = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Keep what NixOS itself needs across boots on the wiped root: the uid/gid allocation
          (`/var/lib/nixos`), `/var/lib/systemd` (timers' last runs, random seed, …) and `/etc/machine-id`.
          Turning it off leaves a warning: users' uids can change between boots and the journal loses
          its machine id.
        '';
      };
      directories = mkOption {
        type = types.listOf absolutePathType;
        default = nixLib.defaultSystemState.directories;
        description = "Directories kept under `/persistent` (bind-mounted in stage 1 by the module's own backend).";
      };
      files = mkOption {
        type = types.listOf absolutePathType;
        default = nixLib.defaultSystemState.files;
        description = "Files kept under `/persistent` (bind-mounted in stage 1 by the module's own backend).";
      };
      backend = mkOption {
        type = types.enum [
          "auto"
          "module"
          "impermanence"
          "preservation"
        ];
        default = "auto";
        description = ''
          Who creates the bind mounts: `module` (this module's stage-1 bind mounts), `impermanence`
          (adds the paths to `environment.persistence."/persistent"`), `preservation` (adds them to
          `preservation.preserveAt."/persistent"`, machine-id `inInitrd`). `auto` picks `preservation`
          when that module is enabled, `impermanence` when its module is imported, else `module`.
        '';
      };
      sshHostKeys = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Keep the OpenSSH host keys: sets `services.openssh.hostKeys` (with `mkDefault`) to ed25519 and
          RSA keys under `/persistent/etc/ssh/`, so clients do not see a new host key after every boot.
        '';
      };
    };

    fileSystems = mkOption {
      type = types.attrsOf (types.attrsOf types.anything);
      readOnly = true;
      internal = true;
      description = ''
        The `fileSystems` entries the module defines (the subvolume layout and, with the module's
        system-state backend, the stage-1 bind mounts), for configurations that assemble
        `fileSystems` themselves: a NixOS VM test sets
        `virtualisation.fileSystems = config.pantherOS.filesystems.impermanence.fileSystems`, because
        qemu-vm.nix replaces `fileSystems` with `virtualisation.fileSystems`.
      '';
    };

    initrd.startupSnapshot = mkOption {
      type = types.bool;
      default = cfg.runtime == "bun";
      defaultText = literalExpression ''config.pantherOS.filesystems.impermanence.runtime == "bun"'';
      description = ''
        Stage 1 starts the boot command from what was compiled when the system was built, instead of
        parsing the boot-only bundle at every boot: with {option}`pantherOS.filesystems.impermanence.runtime`
        `bun` (on by default), one executable, `bun build --compile --bytecode` of it by that Bun (it
        replaces `bin/bun` and the bundle in the initrd, about the same size) when
        {option}`boot.initrd.systemd.strip` is off, else (stripping would cut the bytecode off the
        executable) `bun` with the bytecode build of the bundle (`bun build --bytecode`); with `node` (off by
        default), a V8 start-up snapshot of it (`node --snapshot-blob … boot`, built by
        {option}`pantherOS.filesystems.impermanence.runtimePackage`, the Node that loads it), which measured
        slower than Node with the CommonJS bundle (189 against 153 ms on the trivial boot, 2026-12-02) and is
        a 4.6 MB blob against a 267 kB bundle. `false`: the runtime and the boot-only bundle (CommonJS under
        Node, which starts it without its ES module loader). The trivial boot's times are in the README's
        benchmarks. The running system always runs the full bundle with the runtime.
      '';
    };

    initrd.failBootOnError = mkOption {
      type = types.bool;
      default = false;
      description = ''
        `true`: the rollback unit is `requiredBy` `initrd.target`, so a failed rollback stops the boot in
        the emergency shell. `false` (default): `wantedBy` — the machine boots the root it has (the tool
        exits 0 whenever a bootable `@root` exists, and leaves a recoverable state otherwise).
      '';
    };

    snapshots.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Run the hourly/daily/weekly/monthly `snapshot --class …` + `prune` timers (a class with retention 0 gets no timer).";
    };

    scrub = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Scrub the filesystem through `services.btrfs.autoScrub` (once for the whole filesystem, via `/`).";
      };
      interval = mkOption {
        type = types.str;
        default = "monthly";
        description = "`services.btrfs.autoScrub.interval` (a systemd calendar expression).";
      };
    };

    metrics = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Write `pantheros_*` metrics for node exporter's textfile collector after every snapshot run and every {option}`pantherOS.filesystems.impermanence.metrics.interval`.";
      };
      directory = mkOption {
        type = types.strMatching "/.*";
        default = "/run/pantheros-rollback/metrics";
        description = "Textfile collector directory; the tool writes `pantheros_rollback.prom` there atomically.";
      };
      interval = mkOption {
        type = types.str;
        default = "*:0/5";
        description = "systemd `OnCalendar=` of the metrics timer.";
      };
      configureNodeExporter = mkOption {
        type = types.bool;
        default = true;
        description = ''
          When `services.prometheus.exporters.node.enable` is set, add the `textfile` collector and
          `--collector.textfile.directory=<directory>` to it.
        '';
      };
    };
  };
}
