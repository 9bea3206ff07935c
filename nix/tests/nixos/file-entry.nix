# The submodule of a generated file, shared by environment.etc and boot.initrd.systemd.contents (as in
# NixOS: `text` becomes a store file that is the `source`). `where` describes `target` for the docs.
{ lib, pkgs }:
where: extraOptions:
lib.types.submodule (
  {
    name,
    config,
    options,
    ...
  }:
  {
    options = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = "Whether the file is generated.";
      };
      target = lib.mkOption {
        type = lib.types.str;
        default = name;
        description = "Path ${where}.";
      };
      text = lib.mkOption {
        type = lib.types.nullOr lib.types.lines;
        default = null;
        description = "Contents.";
      };
      source = lib.mkOption {
        type = lib.types.path;
        description = "Store path of the contents.";
      };
    }
    // extraOptions;
    config.source = lib.mkIf (config.text != null) (
      lib.mkDerivedConfig options.text (pkgs.writeText "file-${baseNameOf name}")
    );
  }
)
