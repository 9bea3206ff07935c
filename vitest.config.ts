import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

// Real-btrfs and VM tests mount loop devices and boot QEMU: run files one at a time so that
// a 2-core machine is not oversubscribed and timings in reports stay meaningful.
export default defineConfig({
  define: { __PANTHEROS_VERSION__: JSON.stringify(version) },
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 600_000,
    reporters: ['default'],
  },
});
