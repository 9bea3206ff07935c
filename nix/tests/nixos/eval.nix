# Evaluates NixOS configurations that use this project's module with the real nixpkgs module system
# (lib.evalModules of the nixpkgs `lib` tree in `inputs.lib`), the real nix-community modules
# (disko, impermanence, preservation) and, standing in for the rest of NixOS, ./options.nix,
# ./systemd.nix, ./utils.nix and ./pkgs.nix. Used by test/helpers/nix.ts (`nix-instantiate --eval
# --strict --json --readonly-mode`); see nix/tests/README.md.
#
#   inputs: { lib = <nixpkgs>/lib; disko = <disko>; impermanence = <impermanence>;
#             preservation = <preservation>; }   (paths; the last three may be null)
{ inputs }:
let
  # Nix 2.8 has no builtins.readFileType (nixpkgs' lib.fileset needs Nix >= 2.18); the fallback
  # nixpkgs' own lib/tests use when it is missing.
  lib = (import inputs.lib).extend (
    final: prev: {
      filesystem = prev.filesystem // {
        pathType = builtins.readFileType or (path: (builtins.readDir (dirOf path)).${baseNameOf path});
      };
    }
  );
  inherit (lib)
    concatLists
    filterAttrs
    mapAttrs
    mapAttrsToList
    optional
    optionals
    ;

  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];
  platformOf = p: if builtins.isString p then p else p.system;
  pkgsFor =
    system:
    import ./pkgs.nix {
      inherit lib system;
      runNixOSTest = runNixOSTest system;
    };

  require =
    name:
    if inputs.${name} or null == null then
      throw "nix/tests/nixos/eval.nix: the ${name} module is needed; see nix/tests/README.md for the inputs tarball"
    else
      inputs.${name};

  # --- NixOS: evalModules over the stand-ins -------------------------------------------------------
  baseModules = [
    ./options.nix
    ./systemd.nix
    (
      { config, ... }:
      {
        _module.args = {
          pkgs = pkgsFor (platformOf config.nixpkgs.hostPlatform);
          utils = import ./utils.nix { inherit lib; };
        };
      }
    )
  ];
  # lib.nixosSystem's shape: { modules, specialArgs } -> the evalModules result.
  nixosSystem =
    {
      modules,
      specialArgs ? { },
      ...
    }:
    lib.evalModules {
      class = "nixos";
      specialArgs = {
        # A string, so "${modulesPath}/profiles/…" names the stand-in file itself.
        modulesPath = toString ./modules;
      }
      // specialArgs;
      modules = baseModules ++ modules;
    };

  # pkgs.testers.runNixOSTest: the test is a module of the testing framework (name, nodes,
  # testScript); every node is a NixOS configuration with qemu-vm.nix imported.
  runNixOSTest =
    system: test:
    let
      framework = lib.evalModules {
        modules = [
          {
            options = {
              name = lib.mkOption { type = lib.types.str; };
              nodes = lib.mkOption {
                type = lib.types.lazyAttrsOf lib.types.deferredModule;
                default = { };
              };
              testScript = lib.mkOption { type = lib.types.either lib.types.str (lib.types.functionTo lib.types.str); };
            };
            config._module.args.pkgs = pkgsFor system;
          }
          test
        ];
      };
      nodeEvals = mapAttrs (
        name: node:
        nixosSystem {
          modules = [
            ./qemu-vm.nix
            {
              networking.hostName = name;
              nixpkgs.hostPlatform = system;
            }
            node
          ];
        }
      ) framework.config.nodes;
      nodes = mapAttrs (_: e: e.config) nodeEvals;
      script = framework.config.testScript;
    in
    {
      type = "derivation";
      name = "vm-test-run-${framework.config.name}";
      outPath = "/nix/store/00000000000000000000000000000000-vm-test-run-${framework.config.name}";
      inherit nodes nodeEvals;
      testScript = if builtins.isFunction script then script { inherit nodes; } else script;
    };

  # --- The flake, with nixpkgs and disko standing in as flake inputs ------------------------------
  standInNixpkgs = {
    lib = lib // {
      inherit nixosSystem;
    };
    legacyPackages = lib.genAttrs systems pkgsFor;
  };
  diskoFlake = {
    nixosModules.disko = require "disko" + "/module.nix";
    nixosModules.default = diskoFlake.nixosModules.disko;
  };
  flakeOutputs = (import ../../../flake.nix).outputs {
    self = flakeOutputs;
    nixpkgs = standInNixpkgs;
    disko = diskoFlake;
  };

  # --- A host: this project's module (as the flake exports it) plus the host's modules ------------
  # imports: which nix-community modules to import ("impermanence", "preservation", "disko").
  host =
    {
      modules,
      imports ? [ ],
    }:
    nixosSystem {
      modules = [
        flakeOutputs.nixosModules.default
      ]
      ++ optional (builtins.elem "impermanence" imports) (require "impermanence" + "/nixos.nix")
      ++ optional (builtins.elem "preservation" imports) (require "preservation" + "/module.nix")
      ++ optional (builtins.elem "disko" imports) diskoFlake.nixosModules.disko
      ++ modules;
    };

  # --- What the tests read, as JSON ----------------------------------------------------------------
  filesOf =
    drvs:
    lib.foldl' (acc: d: acc // lib.mapAttrs' (rel: f: lib.nameValuePair (if rel == "" then d.outPath else "${d.outPath}/${rel}") f) (d.files or { })) { } (
      builtins.filter (d: builtins.isAttrs d && d ? files) drvs
    );
  unitsOf = mapAttrs (
    _: u: {
      inherit (u)
        text
        wantedBy
        requiredBy
        enable
        ;
    }
  );
  jobScriptPackagesOf = services: concatLists (mapAttrsToList (_: s: s.jobScriptPackages) services);

  summarize =
    evaluated:
    let
      inherit (evaluated) config options;
      initrd = config.boot.initrd.systemd;
      storeSources = map (p: p.source) initrd.storePaths;
      contentSources = mapAttrsToList (_: c: c.source) (filterAttrs (_: c: c.enable) initrd.contents);
      etcSources = mapAttrsToList (_: f: f.source) (filterAttrs (_: f: f.enable) config.environment.etc);
    in
    {
      failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
      inherit (config) warnings;
      fileSystems = mapAttrs (_: fs: {
        inherit (fs)
          mountPoint
          device
          fsType
          options
          neededForBoot
          depends
          ;
      }) config.fileSystems;
      initrdFstab = config.system.build.initrdFstab;
      initrd = {
        inherit (initrd) enable;
        units = unitsOf initrd.units;
        storePaths = map (p: {
          source = toString p.source;
          target = if p.target == null then null else toString p.target;
        }) initrd.storePaths;
        contents = mapAttrs (_: c: toString c.source) (filterAttrs (_: c: c.enable) initrd.contents);
        extraBin = mapAttrs (_: toString) initrd.extraBin;
        initrdBin = map toString initrd.initrdBin;
        supportedFilesystems = builtins.attrNames (filterAttrs (_: on: on) config.boot.initrd.supportedFilesystems);
      };
      units = unitsOf config.systemd.units;
      tmpfilesRules = config.systemd.tmpfiles.rules;
      # State rollback (issue 14): the pre-activation snapshot script.
      activationScripts = mapAttrs (_: a: if builtins.isString a then a else a.text) config.system.activationScripts;
      etc = mapAttrs (_: f: toString f.source) (filterAttrs (_: f: f.enable) config.environment.etc);
      systemPackages = map toString config.environment.systemPackages;
      # Contents of every store file whose contents are known: scripts, rendered configs.
      files = filesOf (
        storeSources
        ++ contentSources
        ++ etcSources
        ++ config.environment.systemPackages
        ++ jobScriptPackagesOf initrd.services
        ++ jobScriptPackagesOf config.systemd.services
      );
      scrub = {
        inherit (config.services.btrfs.autoScrub) enable interval fileSystems;
      };
      sshHostKeys = map (k: k.path) config.services.openssh.hostKeys;
      nodeExporter = {
        inherit (config.services.prometheus.exporters.node) enabledCollectors extraFlags;
      };
      persistence =
        if options.environment ? persistence then
          mapAttrs (_: p: {
            directories = map (d: d.directory) p.directories;
            files = map (f: f.file) p.files;
          }) config.environment.persistence
        else
          null;
      preservation =
        if options ? preservation then
          {
            inherit (config.preservation) enable;
            preserveAt = mapAttrs (_: p: {
              directories = map (d: { inherit (d) directory inInitrd; }) p.directories;
              files = map (f: { inherit (f) file inInitrd; }) p.files;
            }) config.preservation.preserveAt;
          }
        else
          null;

    };
  # --- The flake's outputs, as `nix flake check` would meet them (test/nix/flake.test.ts) ----------
  flake =
    let
      self = flakeOutputs;
      system = "x86_64-linux";
      pkgs = pkgsFor system;
      package = self.packages.${system}.default;
      vm = self.checks.${system}.rollback;
      machine = vm.nodeEvals.machine;
      hostSummary =
        evaluated:
        summarize evaluated
        // {
          toplevel = evaluated.config.system.build.toplevel.outPath;
          initrdSystemd = evaluated.config.boot.initrd.systemd.enable;
          inherit (evaluated.config.users) mutableUsers;
          # Through disko's own option types.
          diskoSubvolumes = mapAttrs (_: sv: {
            inherit (sv) mountpoint mountOptions;
          }) evaluated.config.disko.devices.disk.main.content.partitions.root.content.subvolumes;
          diskoEnableConfig = evaluated.config.disko.enableConfig;
          impermanence = lib.filterAttrs (n: _: builtins.elem n [ "device" "performanceMode" "runtime" "persistentTree" "snapshotRetention" "subvolumes" ]) evaluated.config.pantherOS.filesystems.impermanence;
        };
    in
    {
      outputNames = builtins.attrNames self;
      nixosModuleTypes = mapAttrs (_: builtins.typeOf) self.nixosModules;
      packages = mapAttrs (_: builtins.attrNames) self.packages;
      checks = mapAttrs (_: builtins.attrNames) self.checks;
      checkOutPaths = mapAttrs (_: c: c.outPath) self.checks.${system};
      package = {
        inherit (package) name;
        aarch64Name = self.packages.aarch64-linux.default.name;
        argNames = builtins.attrNames package.args;
        src = toString package.args.src;
        npmConfigHookIsImportNpmLocks = package.args.npmConfigHook.outPath == pkgs.importNpmLock.npmConfigHook.outPath;
        fetched = mapAttrs (_: f: { inherit (f) url hash; }) package.args.npmDeps.fetched;
        devDependencies = builtins.attrNames package.args.npmDeps.package.devDependencies;
        lockRootDevDependencies = builtins.attrNames package.args.npmDeps.packageLock.packages."".devDependencies;
      };
      hosts = mapAttrs (_: hostSummary) self.nixosConfigurations;
      toolConfigEntries = map (e: e.name) self.checks.${system}.tool-config.entries;
      libModes = self.lib.performanceModes;
      vmTest = {
        inherit (vm) name testScript;
        node = summarize machine // {
          toplevel = machine.config.system.build.toplevel.outPath;
          impermanence = lib.filterAttrs (n: _: builtins.elem n [ "device" "subvolumes" "persistentTree" ]) machine.config.pantherOS.filesystems.impermanence;
          formatScript = machine.config.boot.initrd.systemd.services.pantheros-test-format.script;
          inherit (machine.config.virtualisation) useDefaultFilesystems emptyDiskImages;
        };
      };
    };

  # The options' documentation as nixpkgs' manual generator lists it (lib.optionAttrSetToDocList),
  # with each plain default (no defaultText) as a value, for test/nix/options.test.ts.
  optionDocs =
    let
      evaluated = lib.evalModules {
        modules = [
          ../../options.nix
          { _module.args.pkgs = throw "nix/options.nix: option documentation must not need pkgs (give defaultText)"; }
        ];
      };
      plainDefault =
        opt:
        if opt ? defaultText || !(opt ? default) || builtins.isAttrs opt.default then
          null
        else
          { value = opt.default; };
      defaults = lib.listToAttrs (
        map (opt: lib.nameValuePair (lib.showOption opt.loc) (plainDefault opt)) (lib.collect lib.isOption evaluated.options)
      );
    in
    map (doc: {
      inherit (doc) name type internal;
      description = doc.description or null;
      default = defaults.${doc.name} or null;
      defaultText = doc.default.text or null;
    }) (builtins.filter (doc: lib.hasPrefix "pantherOS." doc.name) (lib.optionAttrSetToDocList evaluated.options));

  # The option-type table (test/nix/option-types.test.ts): nix/options.nix evaluated alone with every
  # definition { path; value; } (path below pantherOS.filesystems.impermanence) at once, and for each
  # whether its option accepts it (the module system's type check, as a build would run it).
  optionTypeAccepts =
    definitions:
    let
      evaluated = lib.evalModules {
        modules = [
          ../../options.nix
          { _module.args.pkgs = throw "nix/options.nix: pkgs is not needed to check option types"; }
          {
            config = lib.foldl' lib.recursiveUpdate { } (
              map (d: lib.setAttrByPath ([ "pantherOS" "filesystems" "impermanence" ] ++ d.path) d.value) definitions
            );
          }
        ];
      };
      cfg = evaluated.config.pantherOS.filesystems.impermanence;
    in
    map (d: (builtins.tryEval (builtins.deepSeq (lib.getAttrFromPath d.path cfg) true)).success) definitions;
in
{
  inherit
    flake
    optionDocs
    optionTypeAccepts
    lib
    host
    nixosSystem
    summarize
    flakeOutputs
    pkgsFor
    ;
  # The JSON the module tests read, for each named host.
  hosts = mapAttrs (_: h: summarize (host h));
  # Forces a host's system.build.toplevel: failed assertions throw NixOS' message, warnings print.
  toplevel = h: (host h).config.system.build.toplevel.outPath;
}
