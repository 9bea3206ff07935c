// argv builders for btrfs-progs: pure, so tests and --dry-run can show exactly what runs.

/**
 * The btrfs program: $PANTHEROS_BTRFS (the NixOS module names btrfs-progs by store path), else `btrfs` on PATH. Read
 * at every call, never at load: Node's start-up snapshot (src/bin-boot-snapshot.ts) evaluates modules at build time.
 */
export function btrfsProgram(): string {
  return process.env.PANTHEROS_BTRFS ?? 'btrfs';
}

/** Throws unless p is an absolute path that cannot be read as an option. */
export function assertSafePath(p: string): string {
  if (!p.startsWith('/') || p.includes('\0') || p.includes('\n') || p.split('/').some((c) => c === '..')) {
    throw new Error(`unsafe path for a btrfs command: ${JSON.stringify(p)}`);
  }
  return p;
}

export function snapshotArgv(source: string, dest: string, readOnly = false): string[] {
  return [btrfsProgram(), 'subvolume', 'snapshot', ...(readOnly ? ['-r'] : []), assertSafePath(source), assertSafePath(dest)];
}

export function createArgv(dest: string): string[] {
  return [btrfsProgram(), 'subvolume', 'create', assertSafePath(dest)];
}

/** One process deletes every path, in the order given (deepest first), and commits the transaction at the end (unless commit is false). */
export function deleteArgv(paths: readonly string[], commit = true): string[] {
  return [btrfsProgram(), 'subvolume', 'delete', ...(commit ? ['--commit-after'] : []), ...paths.map(assertSafePath)];
}

/** One transaction commit of the filesystem holding path (BTRFS_IOC_SYNC). */
export function syncArgv(path: string): string[] {
  return [btrfsProgram(), 'filesystem', 'sync', assertSafePath(path)];
}

/** Prints the default subvolume: "ID 5 (FS_TREE)" or "ID <id> gen … path <name>". */
export function getDefaultArgv(path: string): string[] {
  return [btrfsProgram(), 'subvolume', 'get-default', assertSafePath(path)];
}

/**
 * Lists the subvolumes of the filesystem, with creation generation and parent, paths relative to the top level:
 * every one ('all'), the read-only ones (`-r`), or the snapshots (`-s`: those whose root key carries the generation
 * of the snapshot, i.e. made by the snapshot ioctl; each line then also has `otime`, the creation time in the local
 * time of the btrfs process, without a zone — run it with TZ=UTC0).
 */
export function listArgv(top: string, which: 'all' | 'read-only' | 'snapshots' = 'all'): string[] {
  const filter = which === 'read-only' ? ['-r'] : which === 'snapshots' ? ['-s'] : [];
  return [btrfsProgram(), 'subvolume', 'list', '-c', '-g', '-p', '-u', '-q', '-R', ...filter, assertSafePath(top)];
}
