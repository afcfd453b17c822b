// Reads Vitest's JSON report and prints the closing line of .ci/run, "N passed, N failed";
// exits 1 when the run cannot count as a pass. Run by .ci/run (and by hand: node .ci/summary.mjs).
//
// - A test file that fails to load (a syntax error, a throw at import, a stray `.only` under
//   CI=true, KILN_TEST_PG=required without PostgreSQL) has no failed test in the report, only a
//   failed file: each counts as one failure here, or the run would read "0 failed".
// - Fewer passed tests than .ci/min-passed (zero included) means tests silently stopped running:
//   a failure too.
import { readFileSync } from "node:fs";

const REPORT = "test-results/vitest.json";
const FLOOR_FILE = ".ci/min-passed";

let report;
try {
  report = JSON.parse(readFileSync(REPORT, "utf8"));
} catch {
  console.log("0 passed, 0 failed");
  console.log(`FAIL: no test report (${REPORT}): nothing ran`);
  process.exit(1);
}

const passed = report.numPassedTests;
let failed = report.numFailedTests;
const unloaded = [];
for (const file of report.testResults) {
  const failedTests = file.assertionResults.filter((test) => test.status === "failed").length;
  if (file.status === "failed" && failedTests === 0) {
    failed += 1;
    unloaded.push(
      `${file.name}: ${(file.message || "failed without a failing test").split("\n")[0]}`,
    );
  }
}

const floor = Number(
  readFileSync(FLOOR_FILE, "utf8")
    .split("\n")
    .filter((line) => line.trim() && !line.trim().startsWith("#"))[0],
);

console.log(`${passed} passed, ${failed} failed`);
for (const line of unloaded) console.log(`  file failed to load or run: ${line}`);
let ok = failed === 0 && report.success !== false;
if (!Number.isInteger(floor) || floor < 1) {
  console.log(`FAIL: ${FLOOR_FILE} must hold a whole number of tests above 0`);
  ok = false;
} else if (passed < floor) {
  console.log(
    `FAIL: ${passed} tests passed, fewer than the ${floor} in ${FLOOR_FILE}: tests stopped running`,
  );
  ok = false;
}
process.exit(ok ? 0 : 1);
