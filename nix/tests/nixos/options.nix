# Stand-in for the NixOS option declarations (besides systemd, see ./systemd.nix) that
# nix/module.nix, the nix-community modules (impermanence, preservation, disko) and the example
# hosts define or read, written from nixpkgs' documented behaviour: same names, same types, and the
# parts of their implementation that change what the module sees or produces:
# - fileSystems: the submodule adds `x-initrd.mount` to every mount stage 1 mounts and
#   `x-systemd.requires-mounts-for=` for `depends` (tasks/filesystems.nix); stage 1 gets an fstab of
#   those mounts (system.build.initrdFstab here);
# - services.btrfs.autoScrub: one timer + service per file system (tasks/filesystems/btrfs.nix);
# - environment.etc: `text` becomes a store file;
# - users.users.root exists (users-groups.nix);
# - system.build.toplevel fails with "Failed assertions:" and prints warnings through lib.warn as
#   nixos/modules/system/activation/top-level.nix does, and forces every rendered unit, the initrd
#   and /etc (what a build would read).
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  inherit (lib)
    concatMapStrings
    concatStringsSep
    filter
    filterAttrs
    listToAttrs
    mapAttrsToList
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    nameValuePair
    optional
    optionalString
    types
    ;

  addCheckDesc =
    desc: elemType: check:
    types.addCheck elemType check // { description = "${elemType.description} (with check: ${desc})"; };
  isNonEmpty = s: builtins.match "[ \t\n]*" s == null;
  nonEmptyStr = addCheckDesc "non-empty" types.str isNonEmpty;
  nonEmptyWithoutTrailingSlash = addCheckDesc "non-empty without trailing slash" types.str (
    s: isNonEmpty s && builtins.match ".+/" s == null
  );
  # A list of names is coerced into { name = true; }.
  attrNamesToTrue = types.coercedTo (types.listOf types.str) (names: lib.genAttrs names (_: true)) (
    types.attrsOf types.bool
  );
  specialFSTypes = [
    "proc"
    "sysfs"
    "tmpfs"
    "ramfs"
    "devtmpfs"
    "devpts"
  ];

  fileSystemOptions =
    { name, config, ... }:
    {
      options = {
        enable = mkEnableOption "the filesystem mount" // {
          default = true;
        };
        mountPoint = mkOption {
          type = nonEmptyWithoutTrailingSlash;
          default = name;
          description = "Where it is mounted.";
        };
        device = mkOption {
          type = types.nullOr nonEmptyStr;
          default = null;
          description = "The device as passed to mount.";
        };
        fsType = mkOption {
          type = nonEmptyStr;
          default = "auto";
          description = "The file system type.";
        };
        options = mkOption {
          type = types.nonEmptyListOf nonEmptyStr;
          default = [ "defaults" ];
          description = "Mount options.";
        };
        depends = mkOption {
          type = types.listOf nonEmptyWithoutTrailingSlash;
          default = [ ];
          description = "Paths mounted before this one.";
        };
        neededForBoot = mkOption {
          type = types.bool;
          default = false;
          description = "Mount it in stage 1.";
        };
        label = mkOption {
          type = types.nullOr nonEmptyStr;
          default = null;
          description = "Sets device to /dev/disk/by-label/<label>.";
        };
        autoFormat = mkOption {
          type = types.bool;
          default = false;
          description = "Format an empty device.";
        };
        autoResize = mkOption {
          type = types.bool;
          default = false;
          description = "Grow the file system.";
        };
        noCheck = mkOption {
          type = types.bool;
          default = false;
          description = "Never fsck it.";
        };
      };
      config = {
        device = mkMerge [
          (mkIf (lib.elem config.fsType specialFSTypes) (mkDefault config.fsType))
          (mkIf (config.label != null) (mkDefault "/dev/disk/by-label/${config.label}"))
        ];
        options =
          let
            inInitrd = utils.fsNeededForBoot config;
          in
          mkMerge [
            (mkIf config.autoResize [ "x-systemd.growfs" ])
            (mkIf config.autoFormat [ "x-systemd.makefs" ])
            (mkIf inInitrd [ "x-initrd.mount" ])
            (mkIf (config.depends != [ ]) (
              map (x: "x-systemd.requires-mounts-for=${optionalString inInitrd "/sysroot"}${x}") config.depends
            ))
          ];
      };
    };
  fileSystemsType = types.attrsOf (types.submodule fileSystemOptions);

  fileSystems = builtins.attrValues config.fileSystems;
  escapeFstab = lib.replaceStrings [ " " "\t" ] [ "\\040" "\\011" ];
  fstabOf = concatMapStrings (
    fs:
    (if fs.device != null then escapeFstab fs.device else throw "No device specified for mount point ‘${fs.mountPoint}’.")
    + " ${escapeFstab fs.mountPoint} ${fs.fsType} ${escapeFstab (concatStringsSep "," fs.options)} 0 0\n"
  );

  btrfsScrub = config.services.btrfs.autoScrub;
  scrubName = fs: "btrfs-scrub-${utils.escapeSystemdPath fs}";

  userOptions =
    { name, config, ... }:
    {
      options = {
        name = mkOption {
          type = types.passwdEntry types.str;
          default = name;
          description = "The user's name.";
        };
        uid = mkOption {
          type = types.nullOr types.int;
          default = null;
          description = "The user's id.";
        };
        group = mkOption {
          type = types.str;
          default = "";
          description = "The primary group.";
        };
        home = mkOption {
          type = types.passwdEntry types.path;
          default = "/var/empty";
          description = "Home directory.";
        };
        homeMode = mkOption {
          type = types.strMatching "[0-7]{1,5}";
          default = "700";
          description = "Mode of the home directory.";
        };
        isNormalUser = mkOption {
          type = types.bool;
          default = false;
          description = "A normal user (home under /home, group users).";
        };
        isSystemUser = mkOption {
          type = types.bool;
          default = false;
          description = "A system user.";
        };
        openssh.authorizedKeys.keys = mkOption {
          type = types.listOf types.singleLineStr;
          default = [ ];
          description = "Authorized SSH public keys.";
        };
      };
      config = mkIf config.isNormalUser {
        group = mkDefault "users";
        home = mkDefault "/home/${name}";
      };
    };

  freeform = types.submodule { freeformType = types.attrsOf types.anything; };
  fileEntry = import ./file-entry.nix { inherit lib pkgs; };

  failedAssertions = map (x: x.message) (filter (x: !x.assertion) config.assertions);
  # What a build of the system reads: every unit of both stages, the initrd's files, /etc, fstab.
  builtSystem = builtins.deepSeq [
    (mapAttrsToList (n: u: u.text) config.systemd.units)
    (mapAttrsToList (n: u: u.text) config.boot.initrd.systemd.units)
    (map (p: toString p.source) config.boot.initrd.systemd.storePaths)
    (mapAttrsToList (n: f: toString f.source) config.boot.initrd.systemd.contents)
    (mapAttrsToList (n: f: toString f.source) (filterAttrs (_: f: f.enable) config.environment.etc))
    (map toString config.environment.systemPackages)
    config.system.build.initrdFstab
    config.system.build.fstab
    config.services.openssh.hostKeys
  ] (pkgs.runCommand "nixos-system-${config.networking.hostName}" { } "");
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
      description = "{ assertion; message; } checked when the system is built.";
    };
    warnings = mkOption {
      type = types.listOf types.str;
      internal = true;
      default = [ ];
      description = "Printed when the system is built.";
    };
    system.build = mkOption {
      type = types.submoduleWith {
        modules = [ { freeformType = types.lazyAttrsOf (types.uniq types.unspecified); } ];
      };
      default = { };
      description = "Build results.";
    };
    system.stateVersion = mkOption {
      type = types.str;
      default = lib.trivial.release;
      description = "Release of the first install.";
    };
    system.activationScripts = mkOption {
      type = types.attrsOf (
        types.either types.str (
          types.submodule {
            options = {
              deps = mkOption {
                type = types.listOf types.str;
                default = [ ];
                description = "Scripts that run first.";
              };
              text = mkOption {
                type = types.lines;
                description = "The script.";
              };
              supportsDryActivation = mkOption {
                type = types.bool;
                default = false;
                description = "Runs in dry activation.";
              };
            };
          }
        )
      );
      default = { };
      description = "Activation snippets.";
    };
    nixpkgs.hostPlatform = mkOption {
      type = types.either types.str types.attrs;
      default = "x86_64-linux";
      description = "The platform the system runs on.";
    };

    fileSystems = mkOption {
      type = fileSystemsType;
      default = { };
      apply = filterAttrs (_: fs: fs.enable);
      description = "The file systems to mount.";
    };
    swapDevices = mkOption {
      type = types.listOf freeform;
      default = [ ];
      description = "Swap devices (disko defines it; not evaluated here).";
    };
    boot.supportedFilesystems = mkOption {
      type = attrNamesToTrue;
      default = { };
      description = "File systems the system can mount.";
    };
    boot.initrd = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether the system has an initrd.";
      };
      supportedFilesystems = mkOption {
        type = attrNamesToTrue;
        default = { };
        description = "File systems stage 1 can mount.";
      };
      availableKernelModules = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Modules available in stage 1.";
      };
      kernelModules = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Modules loaded in stage 1.";
      };
      postDeviceCommands = mkOption {
        type = types.lines;
        default = "";
        description = "Scripted stage 1 only.";
      };
      postResumeCommands = mkOption {
        type = types.lines;
        default = "";
        description = "Scripted stage 1 only.";
      };
      postMountCommands = mkOption {
        type = types.lines;
        default = "";
        description = "Scripted stage 1 only.";
      };
    };
    boot.kernelParams = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Kernel command line.";
    };
    boot.loader.grub = {
      enable = mkEnableOption "GRUB";
      efiSupport = mkEnableOption "EFI support";
      efiInstallAsRemovable = mkEnableOption "installing to the removable media path";
      devices = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Devices GRUB is installed on.";
      };
    };
    boot.loader.systemd-boot.enable = mkEnableOption "systemd-boot";

    services.btrfs.autoScrub = {
      enable = mkEnableOption "regular btrfs scrub";
      fileSystems = mkOption {
        type = types.listOf types.path;
        example = [ "/" ];
        description = "One mount point per btrfs file system to scrub.";
      };
      interval = mkOption {
        type = types.str;
        default = "monthly";
        description = "systemd calendar expression of the scrub.";
      };
    };
    services.openssh = {
      enable = mkEnableOption "the OpenSSH daemon";
      hostKeys = mkOption {
        type = types.listOf types.attrs;
        default = [
          {
            type = "rsa";
            bits = 4096;
            path = "/etc/ssh/ssh_host_rsa_key";
          }
          {
            type = "ed25519";
            path = "/etc/ssh/ssh_host_ed25519_key";
          }
        ];
        description = "Host keys sshd generates and uses.";
      };
      settings = mkOption {
        type = freeform;
        default = { };
        description = "sshd_config.";
      };
    };
    services.prometheus.exporters.node = {
      enable = mkEnableOption "the node exporter";
      enabledCollectors = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Collectors turned on.";
      };
      extraFlags = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Extra command line flags.";
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = "Open the port.";
      };
    };
    # Used only by the example hosts; the module never touches them.
    services.postgresql = mkOption {
      type = freeform;
      default = { };
      description = "PostgreSQL (not evaluated here).";
    };
    services.caddy = mkOption {
      type = freeform;
      default = { };
      description = "Caddy (not evaluated here).";
    };

    environment.etc = mkOption {
      type = types.attrsOf (
        fileEntry "below /etc" {
          mode = mkOption {
            type = types.str;
            default = "symlink";
            description = "symlink, direct-symlink or an octal mode.";
          };
        }
      );
      default = { };
      description = "Files in /etc.";
    };
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Packages in the system profile.";
    };

    users.mutableUsers = mkOption {
      type = types.bool;
      default = true;
      description = "Whether users can be changed outside the configuration.";
    };
    users.users = mkOption {
      type = types.attrsOf (types.submodule userOptions);
      default = { };
      description = "User accounts.";
    };
    users.groups = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              name = mkOption {
                type = types.str;
                default = name;
                description = "The group's name.";
              };
              gid = mkOption {
                type = types.nullOr types.int;
                default = null;
                description = "The group's id.";
              };
              members = mkOption {
                type = types.listOf types.str;
                default = [ ];
                description = "Members.";
              };
            };
          }
        )
      );
      default = { };
      description = "Groups.";
    };

    networking.hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
      description = "The host name.";
    };
    networking.useNetworkd = mkOption {
      type = types.bool;
      default = false;
      description = "Use systemd-networkd.";
    };
    networking.firewall.allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      description = "Open TCP ports.";
    };
  };

  config = {
    users.users.root = {
      uid = 0;
      group = "root";
      home = "/root";
    };
    users.groups.root.gid = 0;
    users.groups.users.gid = 100;

    boot.supportedFilesystems = map (fs: fs.fsType) fileSystems;

    assertions = [
      {
        assertion = !(config.boot.initrd.enable && config.boot.initrd.systemd.enable) || lib.any (fs: fs.mountPoint == "/") fileSystems;
        message = "The ‘fileSystems’ option does not specify your root file system.";
      }
    ]
    ++ map (name: {
      assertion = !config.boot.initrd.systemd.enable || config.boot.initrd.${name} == "";
      message = "systemd stage 1 does not support 'boot.initrd.${name}'. Please\n  convert it to analogous systemd units in 'boot.initrd.systemd'.";
    }) [
      "postDeviceCommands"
      "postResumeCommands"
      "postMountCommands"
    ];

    system.build.fstab = fstabOf fileSystems;
    system.build.initrdFstab = fstabOf (filter utils.fsNeededForBoot fileSystems);
    system.build.toplevel =
      if failedAssertions != [ ] then
        throw "\nFailed assertions:\n${concatStringsSep "\n" (map (x: "- ${x}") failedAssertions)}"
      else
        lib.foldr lib.warn builtSystem config.warnings;

    services.btrfs.autoScrub.fileSystems = mkDefault (
      map (fs: fs.mountPoint) (filter (fs: fs.fsType == "btrfs") fileSystems)
    );
    systemd.services = mkIf btrfsScrub.enable (
      listToAttrs (
        map (
          fs:
          nameValuePair (scrubName fs) {
            description = "btrfs scrub on ${fs}";
            conflicts = [
              "shutdown.target"
              "sleep.target"
            ];
            before = [
              "shutdown.target"
              "sleep.target"
            ];
            serviceConfig = {
              Type = "simple";
              Nice = 19;
              IOSchedulingClass = "idle";
              ExecStart = "${pkgs.btrfs-progs}/bin/btrfs scrub start -B ${fs}";
              ExecStop = "-${pkgs.btrfs-progs}/bin/btrfs scrub cancel ${fs}";
            };
          }
        ) btrfsScrub.fileSystems
      )
    );
    systemd.timers = mkIf btrfsScrub.enable (
      listToAttrs (
        map (
          fs:
          nameValuePair (scrubName fs) {
            description = "regular btrfs scrub timer on ${fs}";
            wantedBy = [ "timers.target" ];
            timerConfig = {
              OnCalendar = btrfsScrub.interval;
              AccuracySec = "1d";
              Persistent = true;
            };
          }
        ) btrfsScrub.fileSystems
      )
    );
    environment.systemPackages = optional config.services.openssh.enable pkgs.openssh;
  };
}
