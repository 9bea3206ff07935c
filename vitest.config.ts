import { defineConfig } from 'vitest/config';

// Real-btrfs and VM tests mount loop devices and boot QEMU: run files one at a time so that
// a 2-core machine is not oversubscribed and timings in reports stay meaningful.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 600_000,
    reporters: ['default'],
  },
});
