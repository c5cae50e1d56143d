import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["test/support/global-setup.ts"],
    setupFiles: ["test/support/setup.ts"],
    include: ["test/**/*.test.ts"],
    pool: "forks",
    // Safety nets, not budgets: no test passes only for finishing in time. Far above what the
    // slowest test or hook needs with every core busy (about a minute; see CI_SATURATE in .ci/run),
    // so a loaded machine never trips them; a test or hook that hangs still fails. A test or hook
    // sets a longer one where it needs more, never a shorter one.
    testTimeout: 180_000,
    hookTimeout: 300_000,
    env: { NODE_ENV: "test", LOG_LEVEL: "silent" },
  },
});
