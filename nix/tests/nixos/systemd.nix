# Stand-in for NixOS' systemd option declarations (nixos/lib/systemd-unit-options.nix,
# systemd-lib.nix, systemd-types.nix, modules/system/boot/systemd.nix and systemd/initrd.nix,
# modules/system/boot/systemd/tmpfiles.nix), written from their documented behaviour: the same option
# names and types, so a wrong definition fails here as it fails on NixOS, and the unit files rendered
# the way NixOS renders them (`[Unit]` from requires/after/… and unitConfig, `[Service]` from
# environment and serviceConfig, list values repeated, booleans as true/false, `script` as a job
# script in the store). test/nix/units.test.ts writes `*.units` to disk and runs systemd-analyze.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  inherit (lib)
    concatLists
    concatMap
    concatStrings
    concatStringsSep
    elem
    filterAttrs
    isList
    listToAttrs
    mapAttrs
    mapAttrs'
    mapAttrsToList
    mkAfter
    mkIf
    mkMerge
    mkOption
    mkOptionType
    nameValuePair
    optional
    optionalAttrs
    types
    ;

  fileEntry = import ./file-entry.nix { inherit lib pkgs; };
  environmentType = types.attrsOf (
    types.nullOr (
      types.oneOf [
        types.str
        types.path
        types.package
      ]
    )
  );

  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

  atomicUnitOption = types.oneOf [
    types.bool
    types.int
    types.float
    types.str
    types.path
    types.package
  ];
  # A [Section] value: a list is a repeated directive, anything else one line; equal scalar
  # definitions merge, different ones conflict.
  unitOption = mkOptionType {
    name = "systemd option";
    description = "systemd option";
    check = v: atomicUnitOption.check v || (isList v && lib.all atomicUnitOption.check v);
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: isList def.value) defs' then
        concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  assertValueOneOf =
    name: values: attrs:
    optional (attrs ? ${name} && !elem attrs.${name} values) "Systemd Service field `${name}' cannot have value `${toString attrs.${name}}'.";
  checkService =
    attrs:
    let
      plain = mapAttrs (_: v: if (v._type or "") == "override" || (v._type or "") == "if" then v.content else v) attrs;
      errors =
        assertValueOneOf "Type" [
          "exec"
          "simple"
          "forking"
          "oneshot"
          "dbus"
          "notify"
          "notify-reload"
          "idle"
        ] plain
        ++ assertValueOneOf "Restart" [
          "no"
          "on-success"
          "on-failure"
          "on-abnormal"
          "on-abort"
          "always"
        ] plain;
    in
    if errors == [ ] then true else builtins.trace (concatStringsSep "\n" errors) false;

  unitList =
    description:
    mkOption {
      default = [ ];
      type = types.listOf unitNameType;
      inherit description;
    };

  commonUnitOptions =
    {
      config,
      name,
      options,
      ...
    }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "false: the unit is a symlink to /dev/null.";
        };
        description = mkOption {
          type = types.singleLineStr;
          default = "";
          description = "Description=.";
        };
        documentation = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "Documentation=.";
        };
        requires = unitList "Requires=.";
        wants = unitList "Wants=.";
        upholds = unitList "Upholds=.";
        after = unitList "After=.";
        before = unitList "Before=.";
        bindsTo = unitList "BindsTo=.";
        partOf = unitList "PartOf=.";
        conflicts = unitList "Conflicts=.";
        requisite = unitList "Requisite=.";
        onFailure = unitList "OnFailure=.";
        onSuccess = unitList "OnSuccess=.";
        wantedBy = unitList "Inverse .wants symlinks.";
        requiredBy = unitList "Inverse .requires symlinks.";
        upheldBy = unitList "Inverse .upholds symlinks.";
        aliases = unitList "Alias symlinks.";
        unitConfig = mkOption {
          type = types.attrsOf unitOption;
          default = { };
          description = "[Unit] directives.";
        };
        startLimitBurst = mkOption {
          type = types.int;
          description = "StartLimitBurst=.";
        };
        startLimitIntervalSec = mkOption {
          type = types.int;
          description = "StartLimitIntervalSec=.";
        };
        overrideStrategy = mkOption {
          type = types.enum [
            "asDropinIfExists"
            "asDropin"
          ];
          default = "asDropinIfExists";
          description = "How the unit is installed when upstream has one of the same name.";
        };
      };
      config.unitConfig =
        let
          list = key: values: optionalAttrs (values != [ ]) { ${key} = toString values; };
        in
        list "Requires" config.requires
        // list "Wants" config.wants
        // list "Upholds" config.upholds
        // list "After" config.after
        // list "Before" config.before
        // list "BindsTo" config.bindsTo
        // list "PartOf" config.partOf
        // list "Conflicts" config.conflicts
        // list "Requisite" config.requisite
        // optionalAttrs (config.description != "") { Description = config.description; }
        // list "Documentation" config.documentation
        // list "OnFailure" config.onFailure
        // list "OnSuccess" config.onSuccess
        // optionalAttrs options.startLimitIntervalSec.isDefined {
          StartLimitIntervalSec = toString config.startLimitIntervalSec;
        }
        // optionalAttrs options.startLimitBurst.isDefined { StartLimitBurst = toString config.startLimitBurst; };
    };

  # `script` and friends become executables in the store, as NixOS' makeJobScript writes them.
  jobScriptPackage =
    name: text:
    pkgs.writeShellScriptBin (lib.replaceStrings [ "\\" "@" ] [ "-" "_" ] name) ''
      set -e
      ${text}
    '';
  makeJobScript = name: text: "${jobScriptPackage name text}/bin/${(jobScriptPackage name text).name}";

  serviceOptions =
    { name, config, ... }:
    {
      options = {
        environment = mkOption {
          type = environmentType;
          default = { };
          description = "Environment= of the service's processes.";
        };
        path = mkOption {
          type = types.listOf (
            types.oneOf [
              types.package
              types.str
            ]
          );
          default = [ ];
          description = "Packages whose bin/ and sbin/ go on PATH.";
        };
        serviceConfig = mkOption {
          type = types.addCheck (types.attrsOf unitOption) checkService;
          default = { };
          description = "[Service] directives.";
        };
        script = mkOption {
          type = types.lines;
          default = "";
          description = "Shell commands run as the main process.";
        };
        scriptArgs = mkOption {
          type = types.str;
          default = "";
          description = "Arguments of the script.";
        };
        preStart = mkOption {
          type = types.lines;
          default = "";
          description = "ExecStartPre= script.";
        };
        postStart = mkOption {
          type = types.lines;
          default = "";
          description = "ExecStartPost= script.";
        };
        reload = mkOption {
          type = types.lines;
          default = "";
          description = "ExecReload= script.";
        };
        preStop = mkOption {
          type = types.lines;
          default = "";
          description = "ExecStop= script.";
        };
        postStop = mkOption {
          type = types.lines;
          default = "";
          description = "ExecStopPost= script.";
        };
        jobScripts = mkOption {
          type = types.coercedTo types.path lib.singleton (types.listOf types.path);
          internal = true;
          default = [ ];
          description = "Every job script of the unit.";
        };
        # Not in NixOS: the job scripts' packages, so the tests can write their contents to disk.
        jobScriptPackages = mkOption {
          type = types.listOf types.package;
          internal = true;
          default = [ ];
          description = "The packages of the job scripts.";
        };
      };
      config = mkMerge [
        (mkIf (config.preStart != "") rec {
          jobScripts = makeJobScript "${name}-pre-start" config.preStart;
          jobScriptPackages = [ (jobScriptPackage "${name}-pre-start" config.preStart) ];
          serviceConfig.ExecStartPre = [ jobScripts ];
        })
        (mkIf (config.script != "") rec {
          jobScripts = makeJobScript "${name}-start" config.script;
          jobScriptPackages = [ (jobScriptPackage "${name}-start" config.script) ];
          serviceConfig.ExecStart = jobScripts + " " + config.scriptArgs;
        })
        (mkIf (config.postStart != "") rec {
          jobScripts = makeJobScript "${name}-post-start" config.postStart;
          jobScriptPackages = [ (jobScriptPackage "${name}-post-start" config.postStart) ];
          serviceConfig.ExecStartPost = [ jobScripts ];
        })
        (mkIf (config.reload != "") rec {
          jobScripts = makeJobScript "${name}-reload" config.reload;
          jobScriptPackages = [ (jobScriptPackage "${name}-reload" config.reload) ];
          serviceConfig.ExecReload = jobScripts;
        })
        (mkIf (config.preStop != "") rec {
          jobScripts = makeJobScript "${name}-pre-stop" config.preStop;
          jobScriptPackages = [ (jobScriptPackage "${name}-pre-stop" config.preStop) ];
          serviceConfig.ExecStop = jobScripts;
        })
        (mkIf (config.postStop != "") rec {
          jobScripts = makeJobScript "${name}-post-stop" config.postStop;
          jobScriptPackages = [ (jobScriptPackage "${name}-post-stop" config.postStop) ];
          serviceConfig.ExecStopPost = jobScripts;
        })
        {
          environment.PATH = mkIf (config.path != [ ]) "${lib.makeBinPath config.path}:${lib.makeSearchPathOutput "bin" "sbin" config.path}";
        }
      ];
    };

  stage2Options = {
    options = {
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
        description = "Restart when these change.";
      };
      reloadTriggers = mkOption {
        type = types.listOf unitOption;
        default = [ ];
        description = "Reload when these change.";
      };
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
        description = "Restart on a configuration switch.";
      };
      reloadIfChanged = mkOption {
        type = types.bool;
        default = false;
        description = "Reload on a configuration switch.";
      };
      stopIfChanged = mkOption {
        type = types.bool;
        default = true;
        description = "Stop with the old unit, start with the new one.";
      };
      startAt = mkOption {
        type = types.either types.str (types.listOf types.str);
        default = [ ];
        apply = lib.toList;
        description = "OnCalendar= of a generated timer.";
      };
    };
  };

  # Stage 2 services get NixOS' minimal default PATH after their own `path`.
  stage2ServiceDefaults = {
    config.path = mkAfter [
      pkgs.coreutils
      pkgs.findutils
      pkgs.gnugrep
      pkgs.gnused
      config.systemd.package
    ];
  };

  timerOptions = {
    options.timerConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
      description = "[Timer] directives.";
    };
  };

  mountOptions =
    { config, ... }:
    {
      options = {
        what = mkOption {
          type = types.str;
          description = "What=.";
        };
        where = mkOption {
          type = types.str;
          description = "Where=.";
        };
        type = mkOption {
          type = types.str;
          default = "";
          description = "Type=.";
        };
        options = mkOption {
          type = types.commas;
          default = "";
          description = "Options=.";
        };
        mountConfig = mkOption {
          type = types.attrsOf unitOption;
          default = { };
          description = "[Mount] directives.";
        };
      };
      config.mountConfig = {
        What = config.what;
        Where = config.where;
      }
      // optionalAttrs (config.type != "") { Type = config.type; }
      // optionalAttrs (config.options != "") { Options = config.options; };
    };

  unitFileOptions = {
    options = {
      text = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The unit file.";
      };
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "false: a symlink to /dev/null.";
      };
      wantedBy = unitList "Inverse .wants symlinks.";
      requiredBy = unitList "Inverse .requires symlinks.";
      upheldBy = unitList "Inverse .upholds symlinks.";
      aliases = unitList "Alias symlinks.";
      overrideStrategy = mkOption {
        type = types.enum [
          "asDropinIfExists"
          "asDropin"
        ];
        default = "asDropinIfExists";
        description = "How the unit is installed.";
      };
    };
  };

  # --- Rendering, as systemd-lib.nix does it ----------------------------------------------------
  toOption =
    x:
    if x == true then
      "true"
    else if x == false then
      "false"
    else
      toString x;
  attrsToSection =
    as:
    concatStrings (
      concatLists (mapAttrsToList (name: value: map (x: "${name}=${toOption x}\n") (lib.toList value)) as)
    );
  installOf = def: {
    inherit (def)
      aliases
      wantedBy
      requiredBy
      upheldBy
      enable
      overrideStrategy
      ;
  };
  unitText = def: "[Unit]\n" + attrsToSection def.unitConfig;
  serviceToUnit =
    def:
    installOf def
    // {
      text =
        unitText def
        + "\n[Service]\n"
        + concatStrings (
          mapAttrsToList (n: v: if v == null then "" else "Environment=${builtins.toJSON "${n}=${v}"}\n") def.environment
        )
        + (
          if def.reloadIfChanged or false then
            "X-ReloadIfChanged=true\n"
          else if (def ? restartIfChanged && !def.restartIfChanged) then
            "X-RestartIfChanged=false\n"
          else
            ""
        )
        + lib.optionalString (def ? stopIfChanged && !def.stopIfChanged) "X-StopIfChanged=false\n"
        + attrsToSection def.serviceConfig;
    };
  timerToUnit = def: installOf def // { text = unitText def + "\n[Timer]\n" + attrsToSection def.timerConfig; };
  targetToUnit = def: installOf def // { text = unitText def; };
  mountToUnit = def: installOf def // { text = unitText def + "\n[Mount]\n" + attrsToSection def.mountConfig; };

  unitsOf =
    cfg:
    mapAttrs' (n: v: nameValuePair "${n}.service" (serviceToUnit v)) cfg.services
    // mapAttrs' (n: v: nameValuePair "${n}.timer" (timerToUnit v)) cfg.timers
    // mapAttrs' (n: v: nameValuePair "${n}.target" (targetToUnit v)) cfg.targets
    // listToAttrs (map (v: nameValuePair "${utils.escapeSystemdPath v.where}.mount" (mountToUnit v)) cfg.mounts);

  tmpfilesSettings = mkOption {
    type = types.attrsOf (
      types.attrsOf (
        types.attrsOf (
          types.submodule (
            { name, ... }:
            {
              options = {
                type = mkOption {
                  type = types.str;
                  default = name;
                  description = "Line type (d, L+, …).";
                };
                mode = mkOption {
                  type = types.str;
                  default = "-";
                  description = "Mode.";
                };
                user = mkOption {
                  type = types.str;
                  default = "-";
                  description = "Owner.";
                };
                group = mkOption {
                  type = types.str;
                  default = "-";
                  description = "Group.";
                };
                age = mkOption {
                  type = types.str;
                  default = "-";
                  description = "Age.";
                };
                argument = mkOption {
                  type = types.str;
                  default = "";
                  description = "Argument.";
                };
              };
            }
          )
        )
      )
    );
    default = { };
    description = "tmpfiles.d entries: file name -> path -> type -> entry.";
  };

  unitsOption = mkOption {
    type = types.attrsOf (types.submodule unitFileOptions);
    default = { };
    description = "Unit files by name.";
  };
  mkUnitsOption =
    modules: description:
    mkOption {
      type = types.attrsOf (types.submodule modules);
      default = { };
      inherit description;
    };

  initrd = config.boot.initrd.systemd;
in
{
  options.systemd = {
    package = mkOption {
      type = types.package;
      default = pkgs.systemd;
      description = "The systemd package.";
    };
    services = mkUnitsOption [
      commonUnitOptions
      serviceOptions
      stage2Options
      stage2ServiceDefaults
    ] "Service units.";
    timers = mkUnitsOption [
      commonUnitOptions
      timerOptions
      stage2Options
    ] "Timer units.";
    targets = mkUnitsOption [
      commonUnitOptions
      stage2Options
    ] "Target units.";
    mounts = mkOption {
      type = types.listOf (
        types.submodule [
          commonUnitOptions
          mountOptions
          stage2Options
        ]
      );
      default = [ ];
      description = "Mount units (named after `where`).";
    };
    units = unitsOption;
    tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "tmpfiles.d lines.";
    };
    tmpfiles.settings = tmpfilesSettings;
  };

  options.boot.initrd.systemd = {
    enable = lib.mkEnableOption "systemd in initrd";
    package = mkOption {
      type = types.package;
      default = config.systemd.package;
      description = "The systemd package of stage 1.";
    };
    services = mkUnitsOption [
      commonUnitOptions
      serviceOptions
    ] "Stage-1 service units.";
    timers = mkUnitsOption [
      commonUnitOptions
      timerOptions
    ] "Stage-1 timer units.";
    targets = mkUnitsOption [ commonUnitOptions ] "Stage-1 target units.";
    mounts = mkOption {
      type = types.listOf (
        types.submodule [
          commonUnitOptions
          mountOptions
        ]
      );
      default = [ ];
      description = "Stage-1 mount units.";
    };
    units = unitsOption;
    tmpfiles.settings = tmpfilesSettings;
    contents = mkOption {
      type = types.attrsOf (fileEntry "in the initrd" { });
      default = { };
      description = "Files linked into the initrd.";
    };
    storePaths = mkOption {
      type = types.listOf (
        types.coercedTo (types.either types.singleLineStr types.package) (source: { inherit source; }) (
          types.submodule {
            options = {
              source = mkOption {
                type = types.path;
                description = "Store path copied into the initrd (with its ELF dependencies).";
              };
              target = mkOption {
                type = types.nullOr types.path;
                default = null;
                description = "Where it goes; null: the same path.";
              };
            };
          }
        )
      );
      default = [ ];
      description = "Store paths copied into the initrd.";
    };
    strip = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to completely strip executables and libraries copied to the initramfs.";
    };
    extraBin = mkOption {
      type = types.attrsOf types.path;
      default = { };
      description = "Tools added to /bin.";
    };
    initrdBin = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Packages whose bin/ goes to /bin.";
    };
    suppressedUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Units left out of the initrd.";
    };
    managerEnvironment = mkOption {
      type = environmentType;
      default = { };
      description = "PID 1's environment.";
    };
  };

  config = {
    systemd.units = unitsOf config.systemd;
    boot.initrd.systemd = {
      units = filterAttrs (n: _: !elem n initrd.suppressedUnits) (unitsOf initrd);
      # Job scripts and contents go into the initrd with their closures, as initrd.nix does it.
      storePaths =
        concatLists (mapAttrsToList (_: unit: unit.jobScripts) (filterAttrs (_: v: v.enable) initrd.services))
        ++ map (c: { inherit (c) source; }) (builtins.attrValues (filterAttrs (_: c: c.enable) initrd.contents));
      managerEnvironment.PATH = "/bin:/sbin";
      extraBin = {
        mount = "${pkgs.util-linux}/bin/mount";
        umount = "${pkgs.util-linux}/bin/umount";
      };
    };
    # Stage-2 services' startAt makes a timer, as systemd.nix does.
    systemd.timers = mapAttrs (name: service: {
      wantedBy = [ "timers.target" ];
      timerConfig.OnCalendar = service.startAt;
    }) (filterAttrs (_: s: s.enable && s.startAt != [ ]) config.systemd.services);
  };
}
