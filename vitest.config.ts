import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // The JSON report is what .ci/run counts ("N passed, N failed"), so a run that executed
    // no test cannot pass unnoticed.
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }]],
  },
});
