// Bundles src/ into the single files that run under Node and Bun.
//   node scripts/build.mjs                   dist/pantheros-rollback.mjs       every command (operators, tests)
//                                            dist/pantheros-rollback-boot.mjs  only `boot`: what the initrd runs
//                                            dist/pantheros-rollback-boot.cjs  the same as CommonJS: Node's (Node
//                                            starts a CommonJS script without its ES module loader)
//   node scripts/build.mjs --bytecode BUN    also dist/bun/pantheros-rollback-boot.js + .js.jsc: the boot bundle
//                                            compiled by that Bun to its bytecode (Bun only; the .jsc must come
//                                            from the very Bun that runs it, else Bun ignores it and parses)
//   node scripts/build.mjs --compile BUN     also dist/bun/pantheros-rollback-boot: one executable, that Bun's
//                                            runtime with the boot bundle's bytecode inside (replaces `bun` and
//                                            the bundle in the initrd; the fastest start measured), and
//                                            dist/bun/pantheros-rollback, the same of the full bundle (the
//                                            operator's command under Bun: it reads nothing from the working
//                                            directory, where `bun FILE` reads tsconfig.json)
//   node scripts/build.mjs --node-snapshot NODE
//                                            also dist/node/pantheros-rollback-boot.blob: that Node's V8
//                                            start-up snapshot of the boot-only entry, run as
//                                            `NODE --snapshot-blob FILE boot …` (a blob loads only into the
//                                            Node binary that wrote it); the entry it is built from,
//                                            dist/pantheros-rollback-boot-snapshot.cjs, is always built
//   node scripts/build.mjs ENTRY.ts OUT.mjs  another entry, bundled the same way (the real-btrfs tests bundle
//                                            their driver of src/btrfs/native.ts, the bench its floor script);
//                                            OUT.cjs bundles it as CommonJS
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { assertOneByteSource } from './one-byte-source.mjs';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
/** Bun's launch flags (nix/bun-launch.json): an executable that reads no bunfig.toml and no .env from its working directory. */
const BUN_LAUNCH = JSON.parse(readFileSync('nix/bun-launch.json', 'utf8'));

async function bundle(entry, outfile, format = 'esm') {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: ['node20'],
    minify: process.env.MINIFY === '1',
    legalComments: 'none',
    // The version comes from package.json, one source (src/version.ts).
    define: { __PANTHEROS_VERSION__: JSON.stringify(version) },
    // `// @bun` tells Bun the file is already plain JavaScript, so it skips its own transpiler on every
    // start (about 11 ms for this bundle in an initrd, where Bun has no transpiler cache); Node ignores it.
    banner: { js: '#!/usr/bin/env node\n// @bun' },
    logLevel: 'warning',
  });
  assertOneByteSource(outfile, readFileSync(outfile, 'utf8'));
  chmodSync(outfile, 0o755);
  console.log(`${outfile}: ${statSync(outfile).size} bytes`);
}

/**
 * Bun's bytecode for the boot bundle: `bun build --bytecode` needs CommonJS output (its ESM bytecode
 * needs --compile), so the ESM bundle is rebundled as CommonJS; Bun reads the .jsc read-only at start
 * (nothing is written: it holds in a read-only initrd store) and falls back to parsing the .js when the
 * .jsc is missing, damaged or from another Bun.
 */
function bytecode(bun, input, outdir) {
  for (const f of ['pantheros-rollback-boot.js', 'pantheros-rollback-boot.js.jsc']) rmSync(`${outdir}/${f}`, { force: true });
  mkdirSync(outdir, { recursive: true });
  execFileSync(bun, ['build', input, '--target=bun', '--format=cjs', '--bytecode', '--outdir', outdir], { stdio: ['ignore', 'ignore', 'inherit'] });
  console.log(`${outdir}: Bun bytecode build of ${input}`);
}

/**
 * `node --build-snapshot`: runs the CommonJS boot entry (src/bin-boot-snapshot.ts; a snapshot is built from one
 * script, not from ES modules) and saves the heap with the bundle compiled and its modules evaluated.
 */
function nodeSnapshot(node, entry, blob) {
  mkdirSync(dirname(blob), { recursive: true });
  rmSync(blob, { force: true });
  execFileSync(node, ['--snapshot-blob', blob, '--build-snapshot', entry], { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: process.env.PATH } });
  console.log(`${blob}: ${statSync(blob).size} bytes, V8 start-up snapshot of ${entry} by ${node}`);
}

/**
 * `bun build --compile --bytecode`: a self-contained executable (the runtime, the code and its bytecode) that loads
 * no bunfig.toml and no .env from the directory it is run in (nix/bun-launch.json `compile`).
 */
function compile(bun, input, outfile) {
  mkdirSync(dirname(outfile), { recursive: true });
  execFileSync(bun, ['build', input, '--compile', '--bytecode', ...BUN_LAUNCH.compile, '--outfile', outfile], { stdio: ['ignore', 'ignore', 'inherit'] });
  console.log(`${outfile}: ${statSync(outfile).size} bytes, Bun executable of ${input}`);
}

const args = process.argv.slice(2);
if (args.length === 2 && !args[0].startsWith('--')) {
  await bundle(args[0], args[1], args[1].endsWith('.cjs') ? 'cjs' : 'esm');
} else {
  await bundle('src/bin.ts', 'dist/pantheros-rollback.mjs');
  await bundle('src/bin-boot.ts', 'dist/pantheros-rollback-boot.mjs');
  await bundle('src/bin-boot.ts', 'dist/pantheros-rollback-boot.cjs', 'cjs');
  await bundle('src/bin-boot-snapshot.ts', 'dist/pantheros-rollback-boot-snapshot.cjs', 'cjs');
  for (let i = 0; i < args.length; i += 2) {
    const runtime = args[i + 1];
    if (!runtime || !['--bytecode', '--compile', '--node-snapshot'].includes(args[i])) throw new Error(`unknown arguments ${args.join(' ')} (see the head of scripts/build.mjs)`);
    if (args[i] === '--bytecode') bytecode(runtime, 'dist/pantheros-rollback-boot.mjs', 'dist/bun');
    else if (args[i] === '--compile') {
      compile(runtime, 'dist/pantheros-rollback-boot.mjs', 'dist/bun/pantheros-rollback-boot');
      compile(runtime, 'dist/pantheros-rollback.mjs', 'dist/bun/pantheros-rollback');
    }
    else nodeSnapshot(runtime, 'dist/pantheros-rollback-boot-snapshot.cjs', 'dist/node/pantheros-rollback-boot.blob');
  }
}
