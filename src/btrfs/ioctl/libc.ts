// ioctl(2) and getdents64(2) through bun:ffi, loaded only under Bun and only when first needed. Node never loads
// bun:ffi: the module is reached at run time through process.getBuiltinModule (synchronous, and valid
// in the ESM bundle and in Bun's CommonJS bytecode build alike), behind a process.versions.bun check,
// so no bundler turns it into a static import.

/** One ioctl(2) call: 0 or a positive result on success, else the errno (a positive number) as `errno`. */
export interface Libc {
  /** Calls ioctl(fd, request, arg); returns { ret, errno } where errno is meaningful only when ret is -1. */
  ioctl(fd: number, request: number, arg: Uint8Array | null): { ret: number; errno: number };
  /**
   * Calls getdents64(fd, buf, buf.length) (glibc ≥ 2.30): the number of bytes of linux_dirent64 records
   * written, 0 at the end of the directory, -1 with errno. Null when this libc does not export it.
   */
  getdents64: ((fd: number, buf: Uint8Array) => { ret: number; errno: number }) | null;
}

/** The part of bun:ffi used here (bun-types are not a dependency). */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: readonly number[]; returns: number }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  FFIType: Record<'i32' | 'i64' | 'u64' | 'ptr', number>;
  read: { i32(pointer: unknown, offset?: number): number };
}

const LIBC = 'libc.so.6';

/**
 * Loads libc's ioctl, getdents64 (when it has it) and errno through bun:ffi; returns null under Node, when bun:ffi or libc is
 * unavailable (a musl or static runtime), or when a probe call does not behave (ioctl on fd -1 must
 * fail with EBADF). Once per process: 2.1 ms under Bun 1.4.5 on a slow 2-core VM (1.45 ms importing bun:ffi, 0.8 ms
 * for dlopen, which compiles a trampoline per symbol; docs/benchmarks.md).
 */
export function loadLibc(): Libc | null {
  if (!(process.versions as Record<string, string | undefined>).bun) return null;
  try {
    const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
    const ffi = getBuiltin?.('bun:ffi') as BunFfi | undefined;
    if (!ffi?.dlopen) return null;
    const { i32, i64, u64, ptr } = ffi.FFIType;
    const symbols = {
      ioctl: { args: [i32, u64, ptr], returns: i32 },
      __errno_location: { args: [], returns: ptr },
    };
    // getdents64 in the same dlopen (one symbol table compiled, not two); a libc without it (glibc
    // before 2.30) keeps the ioctls and lists directories the portable way.
    let lib: ReturnType<BunFfi['dlopen']>;
    try {
      lib = ffi.dlopen(LIBC, { ...symbols, getdents64: { args: [i32, ptr, u64], returns: i64 } });
    } catch {
      lib = ffi.dlopen(LIBC, symbols);
    }
    const ioctl = lib.symbols.ioctl as (fd: number, request: number, arg: Uint8Array | null) => number;
    // errno is thread-local; the JavaScript thread's address does not change, so read it once.
    const errnoAt = (lib.symbols.__errno_location as () => unknown)();
    const getdents = lib.symbols.getdents64 as ((fd: number, buf: Uint8Array, length: number) => number | bigint) | undefined;
    const libc: Libc = {
      ioctl(fd, request, arg) {
        const ret = ioctl(fd, request, arg);
        return { ret, errno: ret === -1 ? ffi.read.i32(errnoAt, 0) : 0 };
      },
      getdents64: getdents
        ? (fd, buf) => {
            const ret = Number(getdents(fd, buf, buf.length));
            return { ret, errno: ret === -1 ? ffi.read.i32(errnoAt, 0) : 0 };
          }
        : null,
    };
    const EBADF = 9;
    const probe = libc.ioctl(-1, 0x9408, null);
    return probe.ret === -1 && probe.errno === EBADF ? libc : null;
  } catch {
    return null;
  }
}
