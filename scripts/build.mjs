// Bundles src/ into the single file that ships in the initrd and runs under Node and Bun.
//   node scripts/build.mjs                   dist/pantheros-rollback.mjs
//   node scripts/build.mjs ENTRY.ts OUT.mjs  another entry, bundled the same way (the real-btrfs tests
//                                            bundle their driver of src/btrfs/native.ts so)
import { build } from 'esbuild';
import { chmodSync, statSync } from 'node:fs';

const [entry = 'src/bin.ts', outfile = 'dist/pantheros-rollback.mjs'] = process.argv.slice(2);
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: ['node20'],
  minify: process.env.MINIFY === '1',
  legalComments: 'none',
  // `// @bun` tells Bun the file is already plain JavaScript, so it skips its own transpiler on every
  // start (about 11 ms for this bundle in an initrd, where Bun has no transpiler cache); Node ignores it.
  banner: { js: '#!/usr/bin/env node\n// @bun' },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
console.log(`${outfile}: ${statSync(outfile).size} bytes`);
