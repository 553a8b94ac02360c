import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e tests create network namespaces and TUN devices: never run two files at once there.
    fileParallelism: true,
    pool: 'forks',
  },
});
