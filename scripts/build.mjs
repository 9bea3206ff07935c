// Bundles src/ into the single file that ships in the initrd and runs under Node and Bun.
import { build } from 'esbuild';
import { chmodSync, readFileSync, statSync } from 'node:fs';

const outfile = 'dist/pantheros-rollback.mjs';
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
await build({
  entryPoints: ['src/bin.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: ['node20'],
  minify: process.env.MINIFY === '1',
  legalComments: 'none',
  define: { __PANTHEROS_VERSION__: JSON.stringify(version) },
  // `// @bun` tells Bun the file is already plain JavaScript, so it skips its own transpiler on every
  // start (about 11 ms for this bundle in an initrd, where Bun has no transpiler cache); Node ignores it.
  banner: { js: '#!/usr/bin/env node\n// @bun' },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
console.log(`${outfile}: ${statSync(outfile).size} bytes`);
