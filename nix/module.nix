# Wiring of pantherOS.filesystems.impermanence: mounts, the stage-1 rollback unit, system state,
# timers, scrub and metrics. Options live in options.nix, pure generators in lib.nix.
{
  config,
  lib,
  pkgs,
  utils,
  options,
  ...
}:
let
  inherit (lib)
    mkIf
    mkMerge
    mkDefault
    mkOverride
    optional
    optionals
    optionalAttrs
    concatStringsSep
    concatMapStringsSep
    escapeShellArg
    escapeShellArgs
    filterAttrs
    mapAttrs
    mapAttrs'
    mapAttrsToList
    nameValuePair
    listToAttrs
    ;
  nixLib = import ./lib.nix;
  opt = "pantherOS.filesystems.impermanence";
  cfg = config.pantherOS.filesystems.impermanence;

  # --- The tool ------------------------------------------------------------------------------
  configFile = (pkgs.formats.json { }).generate "pantheros-rollback.json" (nixLib.toolConfig cfg);
  bundle = "${cfg.package}/lib/pantheros-rollback/pantheros-rollback.mjs";
  # Stage 1 runs only `boot`: the boot-only bundle loads nothing else (about half the bytes to parse at every boot);
  # Node gets it as CommonJS, which it starts without its ES module loader (about 14 ms a boot, docs/benchmarks.md).
  bootBundle = "${cfg.package}/lib/pantheros-rollback/pantheros-rollback-boot.${if cfg.runtime == "node" then "cjs" else "mjs"}";
  runtimeBin = "${cfg.runtimePackage}/bin/${cfg.runtime}";
  # Bun reads bunfig.toml (its preload runs any module), .env files and tsconfig.json from the working
  # directory: every `bun FILE` here takes the flags that stop it (nix/bun-launch.json, the one list the
  # build, the bench and the tests use too). Stage 1 runs in the initrd's `/`; the operator's command,
  # started wherever the operator stands, is a Bun executable, which reads nothing from there.
  bunLaunch = lib.importJSON ./bun-launch.json;
  runtimeFlags = lib.optionals (cfg.runtime == "bun") bunLaunch.run;
  # Stage 1's environment under Bun (bunLaunch.env: JavaScriptCore compiles on the boot's own thread,
  # not in compiler threads that compete with it for the CPU); the builds of nix/boot-executable.nix
  # run each stage-1 form with it, so a Bun that does not know a variable fails the build, not a boot.
  stage1BunEnvironment = lib.optionals (cfg.runtime == "bun") (
    lib.mapAttrsToList (name: value: "${name}=${value}") bunLaunch.env
  );
  # Stage 1 starts from what was compiled at build time (initrd.startupSnapshot: on by default under Bun
  # only), made by the runtime that runs it: under Node a V8 start-up snapshot of the boot entry (slower
  # than the CommonJS bundle where measured, docs/benchmarks.md); under Bun one executable with the
  # bundle's bytecode inside — or, when make-initrd-ng strips the initrd's ELF files
  # (boot.initrd.systemd.strip, NixOS' default), which would cut that bytecode off the executable, Bun
  # with the bytecode build. Otherwise the runtime and the boot-only bundle.
  bootBun = pkgs.callPackage ./boot-executable.nix {
    bun = cfg.runtimePackage;
    pantheros-rollback = cfg.package;
  };
  bootSnapshot = pkgs.callPackage ./boot-snapshot.nix {
    nodejs = cfg.runtimePackage;
    pantheros-rollback = cfg.package;
  };
  bunBytecode = "${bootBun}/lib/pantheros-rollback-boot.js";
  stage1 =
    if !cfg.initrd.startupSnapshot then
      {
        program = [ runtimeBin ] ++ runtimeFlags ++ [ bootBundle ];
        files = [ ];
      }
    else if cfg.runtime == "node" then
      {
        program = [
          runtimeBin
          "--snapshot-blob"
          "${bootSnapshot}/lib/pantheros-rollback-boot.blob"
        ];
        files = [ ];
      }
    else if !config.boot.initrd.systemd.strip then
      {
        program = [ "${bootBun}/bin/pantheros-rollback-boot" ];
        files = [ ];
      }
    else
      {
        program = [ runtimeBin ] ++ runtimeFlags ++ [ bunBytecode ];
        files = [ "${bunBytecode}.jsc" ];
      };
  # What the initrd holds of it: every file the program names (not an option), and the rest it reads.
  stage1Program = stage1.program;
  stage1StorePaths = lib.filter (lib.hasPrefix "/") stage1.program ++ stage1.files;
  btrfsBin = "${pkgs.btrfs-progs}/bin/btrfs";
  # The same runtime in stage 1 and stage 2; stage 1 runs the boot command of the same build (stage1 above).
  # Under Bun the command is Bun's executable of the full bundle (bootBun), not `bun FILE`.
  # btrfs and mount come from the store, whatever the caller's PATH (systemd services get only
  # coreutils/findutils/grep/sed/systemd).
  toolProgram = if cfg.runtime == "bun" then [ "${bootBun}/bin/pantheros-rollback" ] else [ runtimeBin bundle ];
  toolBin = pkgs.writeShellScriptBin "pantheros-rollback" ''
    export PATH=${pkgs.btrfs-progs}/bin:${pkgs.util-linux}/bin''${PATH:+:$PATH}
    export PANTHEROS_BTRFS=''${PANTHEROS_BTRFS:-${btrfsBin}}
    exec ${lib.escapeShellArgs toolProgram} "$@"
  '';
  tool = "${toolBin}/bin/pantheros-rollback";

  # --- Layout --------------------------------------------------------------------------------
  layout = nixLib.layout cfg;
  tree = nixLib.persistentTreeOf cfg;
  state = nixLib.systemStateOf cfg;
  statePaths = state.directories ++ state.files;
  attributes = nixLib.applicableAttributes cfg cfg.perPathAttributes;
  droppedAttributes = lib.subtractLists (builtins.attrNames attributes) (builtins.attrNames cfg.perPathAttributes);
  # Every value goes through its option type here (an attribute of a path that is not applied would
  # otherwise never be read, so a wrong kind there went unnoticed).
  attributesChecked = builtins.deepSeq (builtins.attrValues cfg.perPathAttributes) true;

  # The module's own stage-1 bind mounts keep the system state.
  moduleBackend = state.enable && backend == "module" && statePaths != [ ];
  backend =
    if cfg.systemState.backend != "auto" then
      cfg.systemState.backend
    else if options ? preservation && config.preservation.enable then
      "preservation"
    else if options.environment ? persistence then
      "impermanence"
    else
      "module";

  # --- Stage-1 ordering (field notes; nixpkgs systemd/repart.nix does the same for its device) ---
  deviceUnit = "${utils.escapeSystemdPath (if cfg.device == null then "/dev/null" else cfg.device)}.device";
  # The tool waits up to deviceTimeoutSeconds for the device, deletes for at most oldRoots.ageOutSeconds (all its deletes together),
  # then archives and creates within seconds; 210 s more bound a stuck btrfs command without ever cutting
  # a normal run short. initrd/pantheros-rollback.service states the default (30 + 60 + 210 = 300).
  startTimeoutSeconds = builtins.ceil cfg.deviceTimeoutSeconds + builtins.ceil cfg.oldRoots.ageOutSeconds + 210;
  mapperName = lib.removePrefix "/dev/mapper/" (if cfg.device == null then "" else cfg.device);
  cryptsetupUnits =
    [ "cryptsetup.target" ]
    ++ optional (cfg.device != null && lib.hasPrefix "/dev/mapper/" cfg.device) "systemd-cryptsetup@${utils.escapeSystemdPath mapperName}.service";

  # --- Checks --------------------------------------------------------------------------------
  fsOnDevice = filterAttrs (_: fs: fs.fsType == "btrfs" && fs.device == cfg.device) config.fileSystems;
  btrfsOptionsOf = fs: builtins.sort builtins.lessThan (builtins.filter nixLib.isBtrfsSpecific fs.options);
  rootFs = config.fileSystems."/" or null;
  rootBtrfsOptions = if rootFs == null then [ ] else btrfsOptionsOf rootFs;
  mismatchedMounts = filterAttrs (_: fs: btrfsOptionsOf fs != rootBtrfsOptions) fsOnDevice;
  subvolOptionsOf = fs: builtins.filter (o: lib.hasPrefix "subvol=" o || lib.hasPrefix "subvolid=" o) fs.options;
  engineSubvolumes = lib.filterAttrs (n: _: builtins.elem n [ "root" "blank" "oldRoots" "snapshots" "oldState" ]) cfg.subvolumes;
  overlapping = lib.concatLists (
    mapAttrsToList (
      ka: a:
      mapAttrsToList (kb: b: "${opt}.subvolumes.${ka} (\"${a}\") and .${kb} (\"${b}\")") (
        filterAttrs (kb: b: ka < kb && (nixLib.isUnder a b || nixLib.isUnder b a)) engineSubvolumes
      )
    ) engineSubvolumes
  );
  treeInWipedArea = builtins.filter (
    e: builtins.any (s: nixLib.isUnder s e.subvolume) [ cfg.subvolumes.root cfg.subvolumes.blank cfg.subvolumes.oldRoots cfg.subvolumes.snapshots cfg.subvolumes.oldState ]
  ) tree;
  treeWithBtrfsOptions = builtins.filter (e: builtins.any nixLib.isBtrfsSpecific e.options) tree;
  relativeTreePaths = builtins.filter (p: !lib.hasPrefix "/" p) (builtins.attrNames cfg.persistentTree);
  relativeAttributePaths = builtins.filter (p: !lib.hasPrefix "/" p) (builtins.attrNames cfg.perPathAttributes);
  unmountableSubvolumes = lib.unique (
    builtins.filter (s: lib.hasInfix "," s) (lib.mapAttrsToList (_: m: m.subvolume) layout)
  );
  # Tree entries that hold something stage 1 / activation needs must be mounted in stage 1: a mount
  # above such a path (it would hide what stage 1 mounted below it) and a mount below it (stage 1
  # and activation write there before stage 2 mounts anything: the journal under /var/log, the
  # state that the bind mounts keep).
  stageOnePaths = [ "/var/log" ] ++ statePaths;
  mustBeNeededForBoot =
    [ "/persistent" ]
    ++ map (e: e.path) (
      builtins.filter (e: builtins.any (p: nixLib.isUnder e.path p || nixLib.isUnder p e.path) stageOnePaths) tree
    );
  notNeededForBoot = builtins.filter (
    p: config.fileSystems ? ${p} && !(utils.fsNeededForBoot config.fileSystems.${p})
  ) mustBeNeededForBoot;
  missingStateDefaults = lib.subtractLists statePaths (nixLib.defaultSystemState.directories ++ nixLib.defaultSystemState.files);
  persistentRoots = [ "/persistent" ] ++ map (e: e.path) tree ++ statePaths;
  volatileHostKeys = builtins.filter (k: !(builtins.any (r: nixLib.isUnder r k.path) persistentRoots)) (
    config.services.openssh.hostKeys or [ ]
  );

  # Timers for the timed classes; `activation` snapshots are taken by the activation script below instead.
  snapshotClasses = filterAttrs (class: keep: keep > 0 && class != "activation") cfg.snapshotRetention;
  # Units that use a persistent path: systemd orders them after its mount, and state-rollback stops them.
  treeUnits = lib.concatMap (e: map (u: { unit = u; path = e.path; }) e.units) tree;
  metricsFile = "${cfg.metrics.directory}/pantheros_rollback.prom";
  metricsCommand = "${tool} metrics --output ${metricsFile}";
in
{
  imports = [ ./options.nix ];

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = config.boot.initrd.systemd.enable;
          message = "boot.initrd.systemd.enable must be true for ${opt}: the rollback runs as a systemd unit in stage 1 (the scripted initrd's postDeviceCommands run before hibernation resume and corrupt btrfs); it is false.";
        }
        {
          assertion = cfg.device != null;
          message = "${opt}.device must name the btrfs block device (e.g. \"/dev/disk/by-label/nixos\"); it is null.";
        }
        {
          assertion =
            rootFs != null && rootFs.fsType == "btrfs" && rootFs.device == cfg.device && subvolOptionsOf rootFs == [ "subvol=${cfg.subvolumes.root}" ];
          message = "${opt}.subvolumes.root: fileSystems.\"/\" must be the btrfs subvolume \"${cfg.subvolumes.root}\" of ${toString cfg.device}, but it is ${
            if rootFs == null then "undefined" else "${rootFs.fsType} on ${toString rootFs.device} with subvolume options [${concatStringsSep ", " (subvolOptionsOf rootFs)}]"
          }.";
        }
        {
          assertion = notNeededForBoot == [ ];
          message = "${opt}.persistentTree: these persistent mounts hold what stage 1 or activation needs and must have neededForBoot = true: ${concatStringsSep ", " notNeededForBoot}.";
        }
        {
          assertion = mismatchedMounts == { };
          message = "${opt}.performanceMode: btrfs options are filesystem-wide (the first mount wins), so every mount of ${toString cfg.device} must carry the same ones as / ([${concatStringsSep ", " rootBtrfsOptions}]); these differ: ${
            concatStringsSep "; " (mapAttrsToList (p: fs: "${p} [${concatStringsSep ", " (btrfsOptionsOf fs)}]") mismatchedMounts)
          }. Use ${opt}.perPathAttributes for per-path behaviour.";
        }
        {
          assertion = treeWithBtrfsOptions == [ ];
          message = "${opt}.persistentTree.<path>.options may only hold generic VFS options; btrfs-specific ones found: ${
            concatMapStringsSep "; " (e: "\"${e.path}\" [${concatStringsSep ", " (builtins.filter nixLib.isBtrfsSpecific e.options)}]") treeWithBtrfsOptions
          }.";
        }
        {
          assertion = treeInWipedArea == [ ];
          message = "${opt}.persistentTree.<path>.subvolume must not lie inside the root, blank, archive or snapshot subvolumes (it would be wiped or archived): ${
            concatMapStringsSep ", " (e: "\"${e.path}\" = \"${e.subvolume}\"") treeInWipedArea
          }.";
        }
        {
          assertion = overlapping == [ ];
          message = "${opt}.subvolumes: the root, blank, archive and snapshot locations must not overlap: ${concatStringsSep "; " overlapping}.";
        }
        {
          assertion = relativeTreePaths == [ ];
          message = "${opt}.persistentTree: mount points must be absolute paths (the engine rejects the rest at boot): ${
            concatMapStringsSep ", " (p: "\"${p}\"") relativeTreePaths
          }.";
        }
        {
          assertion = attributesChecked && relativeAttributePaths == [ ];
          message = "${opt}.perPathAttributes: paths must be absolute: ${concatMapStringsSep ", " (p: "\"${p}\"") relativeAttributePaths}.";
        }
        {
          assertion = unmountableSubvolumes == [ ];
          message = "${opt}: these subvolumes are mounted with subvol=<name>, so their names must not contain \",\" (it separates mount options): ${
            concatMapStringsSep ", " (s: "\"${s}\"") unmountableSubvolumes
          }.";
        }
        {
          assertion = backend != "preservation" || options ? preservation;
          message = "${opt}.systemState.backend is \"preservation\" but the nix-community/preservation module is not imported.";
        }
        {
          assertion = backend != "impermanence" || options.environment ? persistence;
          message = "${opt}.systemState.backend is \"impermanence\" but the nix-community/impermanence module is not imported.";
        }
      ];

      warnings =
        optional (!cfg.systemState.enable)
          "${opt}.systemState.enable is false: /var/lib/nixos (uid/gid allocation), /var/lib/systemd and /etc/machine-id are wiped at every boot, so file ownership on persistent data can drift and the journal changes machine id."
        ++ optional (cfg.systemState.enable && missingStateDefaults != [ ])
          "${opt}.systemState: ${concatStringsSep ", " missingStateDefaults} ${if builtins.length missingStateDefaults == 1 then "is" else "are"} no longer kept and will be wiped at every boot."
        ++ optional (config.services.openssh.enable && volatileHostKeys != [ ])
          "${opt}.systemState.sshHostKeys: these OpenSSH host keys are on the wiped root and change at every boot: ${concatMapStringsSep ", " (k: k.path) volatileHostKeys}."
        ++ optional (droppedAttributes != [ ])
          "${opt}.perPathAttributes: not applied to ${
            concatMapStringsSep ", " (p: "${p} (${cfg.perPathAttributes.${p}})") droppedAttributes
          } (not on persistent storage; add a persistentTree entry to keep them).";

      # The design's tree, merged field by field with the host's entries.
      pantherOS.filesystems.impermanence.persistentTree = mapAttrs (_: entry: mapAttrs (_: mkDefault) entry) nixLib.defaultPersistentTree;

      pantherOS.filesystems.impermanence.fileSystems =
        mapAttrs (_: m: {
          device = cfg.device;
          fsType = "btrfs";
          inherit (m) options neededForBoot;
        }) layout
        // optionalAttrs moduleBackend (
          listToAttrs (
            map (
              p:
              nameValuePair p {
                device = "/persistent${p}";
                fsType = "none";
                options = [ "bind" ];
                neededForBoot = true;
                depends = [ "/persistent" ];
              }
            ) statePaths
          )
        );
      fileSystems = cfg.fileSystems;

      environment.etc."pantheros/rollback.json".source = configFile;
      environment.systemPackages = [ toolBin ];
    }

    # --- Stage 1: the rollback before sysroot.mount ------------------------------------------
    {
      boot.initrd.supportedFilesystems = [ "btrfs" ];
      boot.initrd.systemd = {
        contents."/etc/pantheros/rollback.json".source = configFile;
        # The stage-1 program's files (make-initrd-ng copies the ELF libraries of the runtime or the
        # Bun executable) and btrfs; mount/umount are in every systemd initrd. initrdBin also puts
        # btrfs-progs into the emergency shell's /bin for manual recovery.
        storePaths = stage1StorePaths ++ [ btrfsBin ];
        initrdBin = [ pkgs.btrfs-progs ];
        services.pantheros-rollback = {
          description = "Archive the old root and create a fresh one (pantheros-rollback)";
          unitConfig = {
            DefaultDependencies = false;
            ConditionPathExists = "/etc/initrd-release";
          };
          # The escaped device unit, not initrd-root-device.target alone (that raced the disk:
          # systemd #24904).
          requires = [ deviceUnit ];
          # LUKS must be open; hibernate-resume is ordered before local-fs-pre.target, so after it
          # a resumed image can no longer be corrupted by our mount (impermanence #250).
          after = [
            deviceUnit
            "local-fs-pre.target"
          ] ++ cryptsetupUnits;
          # Before the root is mounted: the tool refuses to touch a mounted @root.
          before = [
            "sysroot.mount"
            "initrd-root-fs.target"
            "shutdown.target"
          ];
          conflicts = [ "shutdown.target" ];
          # wantedBy by default: a failure still boots the root that exists (impermanence PR #321).
          wantedBy = optional (!cfg.initrd.failBootOnError) "initrd.target";
          requiredBy = optional cfg.initrd.failBootOnError "initrd.target";
          serviceConfig = {
            Type = "oneshot";
            # Never run twice in one boot (a second run would archive the fresh root).
            RemainAfterExit = true;
            # The config is read from its default path, /etc/pantheros/rollback.json (installed above).
            ExecStart = utils.escapeSystemdExecArgs (
              stage1Program
              ++ [
                "boot"
                "--device"
                (toString cfg.device)
              ]
            );
            TimeoutStartSec = startTimeoutSeconds;
            Environment = [ "PANTHEROS_BTRFS=${btrfsBin}" ] ++ stage1BunEnvironment;
            # Lines go to stderr with their priority (<3>, <4>, <6>) when JOURNAL_STREAM says the journal
            # reads it (no kmsg rate limit); the identifier keeps `journalctl -t pantheros-rollback` working.
            StandardOutput = "journal+console";
            StandardError = "journal+console";
            SyslogIdentifier = "pantheros-rollback";
          };
        };
      };
    }

    # --- System state: module backend (stage-1 bind mounts from /persistent) -------------------
    (mkIf moduleBackend {
      # Bind sources and targets must exist before the stage-1 bind mounts (first boot, fresh root).
      boot.initrd.systemd.services.pantheros-rollback-state =
        let
          mountUnits = map (p: "${utils.escapeSystemdPath "/sysroot${p}"}.mount") statePaths;
        in
        {
          description = "Create the sources and targets of the persistent system-state bind mounts";
          unitConfig.DefaultDependencies = false;
          unitConfig.RequiresMountsFor = [ "/sysroot/persistent" ];
          after = [ "sysroot.mount" ];
          before = mountUnits;
          requiredBy = mountUnits;
          serviceConfig = {
            Type = "oneshot";
            RemainAfterExit = true;
          };
          script = ''
            set -eu
            for d in ${escapeShellArgs state.directories}; do
              mkdir -p "/sysroot/persistent$d" "/sysroot$d"
            done
            for f in ${escapeShellArgs state.files}; do
              mkdir -p "$(dirname "/sysroot/persistent$f")" "$(dirname "/sysroot$f")"
              [ -e "/sysroot/persistent$f" ] || : > "/sysroot/persistent$f"
              [ -e "/sysroot$f" ] || : > "/sysroot$f"
            done
            # A machine id from the first boot on, without relying on systemd-machine-id-commit
            # writing through the bind mount: 32 lowercase hex digits, as machine-id(5) wants.
            id=/sysroot/persistent/etc/machine-id
            if [ -e "$id" ] && [ ! -s "$id" ]; then
              tr -d '-' < /proc/sys/kernel/random/uuid > "$id"
              chmod 0444 "$id"
            fi
          '';
        };
    })

    # --- System state: nix-community/impermanence --------------------------------------------
    (optionalAttrs (options.environment ? persistence) {
      environment.persistence."/persistent" = mkIf (state.enable && backend == "impermanence") {
        hideMounts = mkDefault true;
        directories = state.directories;
        files = state.files;
      };
    })

    # --- System state: nix-community/preservation --------------------------------------------
    (optionalAttrs (options ? preservation) {
      preservation = mkIf (state.enable && backend == "preservation") {
        preserveAt."/persistent" = {
          directories = map (d: {
            directory = d;
            inInitrd = true;
          }) state.directories;
          files = map (f: {
            file = f;
            inInitrd = true;
          }) state.files;
        };
      };
    })

    (mkIf cfg.systemState.sshHostKeys {
      services.openssh.hostKeys = mkDefault [
        {
          path = "/persistent/etc/ssh/ssh_host_ed25519_key";
          type = "ed25519";
        }
        {
          path = "/persistent/etc/ssh/ssh_host_rsa_key";
          type = "rsa";
          bits = 4096;
        }
      ];
    })

    # --- Per-path attributes (nocow / compression) before any service starts ------------------
    (mkIf (attributes != { }) {
      systemd.services.pantheros-rollback-attributes = {
        description = "Apply per-path btrfs attributes of ${opt}.perPathAttributes";
        unitConfig.DefaultDependencies = false;
        after = [ "local-fs.target" ];
        before = [ "sysinit.target" ];
        wantedBy = [ "sysinit.target" ];
        path = [
          pkgs.coreutils
          pkgs.e2fsprogs
          pkgs.btrfs-progs
        ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        # chattr +C on a directory only affects files created afterwards; a failure is reported,
        # never fatal (the service behind it still starts).
        script = concatStringsSep "\n" (
          mapAttrsToList (path: kind: ''
            mkdir -p ${escapeShellArg path}
            ${escapeShellArgs (nixLib.attributeCommand path kind)} || echo "pantheros-rollback: could not apply ${kind} to ${path}" >&2
          '') attributes
        );
      };
    })

    # --- Timed snapshots + prune (+ metrics refresh) ------------------------------------------
    (mkIf cfg.snapshots.enable {
      systemd.services = mapAttrs' (
        class: _:
        nameValuePair "pantheros-snapshot-${class}" {
          description = "Take ${class} snapshots and prune old ones (pantheros-rollback)";
          after = [ "local-fs.target" ];
          serviceConfig = {
            Type = "oneshot";
            SyslogIdentifier = "pantheros-rollback";
            # One snapshot/prune at a time: hourly and daily fire together at midnight.
            ExecStart = [
              "${pkgs.util-linux}/bin/flock /run/pantheros-rollback.snapshot.lock ${tool} snapshot --class ${class}"
              "${pkgs.util-linux}/bin/flock /run/pantheros-rollback.snapshot.lock ${tool} prune"
            ];
            ExecStartPost = optionals cfg.metrics.enable [ "-${metricsCommand}" ];
            Nice = 10;
            IOSchedulingClass = "idle";
          };
        }
      ) snapshotClasses;
      systemd.timers = mapAttrs' (
        class: _:
        nameValuePair "pantheros-snapshot-${class}" {
          description = "${class} snapshots (pantheros-rollback)";
          wantedBy = [ "timers.target" ];
          timerConfig = {
            OnCalendar = class;
            # Catch up after downtime: retention counts snapshots, so a late one loses nothing.
            Persistent = true;
            RandomizedDelaySec = if class == "hourly" then "2min" else "15min";
          };
        }
      ) snapshotClasses;
    })

    # --- State rollback: snapshots before every activation, units tied to their mounts ----------------
    (mkIf (cfg.snapshotRetention.activation > 0) {
      # Activation runs at every boot and every `nixos-rebuild switch`, before switch-to-configuration
      # (re)starts units: the snapshot holds the state as the previous generation left it, before a new
      # service version migrates it. A failure only warns: activation must go on.
      system.activationScripts.pantheros-snapshot-activation = {
        deps = [ ];
        text = ''
          ${tool} snapshot --class activation >/dev/null || echo "pantheros-rollback: the pre-activation snapshot failed (see above); activation goes on" >&2
          ${tool} prune --class activation >/dev/null || echo "pantheros-rollback: pruning activation snapshots failed; activation goes on" >&2
        '';
      };
    })
    (mkIf (treeUnits != [ ]) {
      systemd.services = listToAttrs (
        map (
          u:
          nameValuePair (lib.removeSuffix ".service" u.unit) {
            unitConfig.RequiresMountsFor = [ u.path ];
          }
        ) (builtins.filter (u: lib.hasSuffix ".service" u.unit) treeUnits)
      );
    })

    # --- Scrub through NixOS's own module -------------------------------------------------------
    (mkIf cfg.scrub.enable {
      services.btrfs.autoScrub = {
        enable = mkDefault true;
        interval = mkDefault cfg.scrub.interval;
        # One entry per filesystem: every subvolume mount shares the same devices. Above NixOS' own
        # mkDefault (every btrfs mount point, which would scrub the one filesystem once per
        # subvolume mount, all at the same time), below a host's plain definition.
        fileSystems = mkOverride 900 [ "/" ];
      };
    })

    # --- Metrics for node exporter's textfile collector -----------------------------------------
    (mkIf cfg.metrics.enable {
      systemd.tmpfiles.rules = [ "d ${cfg.metrics.directory} 0755 root root -" ];
      systemd.services.pantheros-rollback-metrics = {
        description = "Write pantheros-rollback metrics for node exporter";
        after = [ "local-fs.target" ];
        serviceConfig = {
          Type = "oneshot";
          ExecStart = metricsCommand;
          SyslogIdentifier = "pantheros-rollback";
        };
      };
      systemd.timers.pantheros-rollback-metrics = {
        wantedBy = [ "timers.target" ];
        timerConfig = {
          OnCalendar = cfg.metrics.interval;
          OnBootSec = "1min";
        };
      };
      services.prometheus.exporters.node =
        mkIf (cfg.metrics.configureNodeExporter && config.services.prometheus.exporters.node.enable)
          {
            enabledCollectors = [ "textfile" ];
            extraFlags = [ "--collector.textfile.directory=${cfg.metrics.directory}" ];
          };
    })
  ]);
}
