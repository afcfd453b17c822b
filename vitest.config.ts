import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests and the apps they load in-process use the sources, so a test sees a change at once;
    // the CLI that tests spawn runs the build (kept fresh by the global setup).
    alias: [
      { find: /^kilnjs$/, replacement: source("./packages/kiln/src/index.ts") },
      { find: /^create-kilnjs$/, replacement: source("./packages/create-kilnjs/src/index.ts") },
    ],
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    globalSetup: ["packages/kiln/test/support/build.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // The JSON report is what .ci/run counts ("N passed, N failed"), so a run that executed
    // no test cannot pass unnoticed. .ci/run names one report per Node.js version it runs on.
    reporters: [
      "default",
      ["json", { outputFile: process.env.KILN_TEST_REPORT || "test-results/vitest.json" }],
    ],
  },
});
