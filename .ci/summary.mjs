// Reads Vitest's JSON reports and prints the closing line of .ci/run, "N passed, N failed",
// summed over every report (one per Node.js version .ci/run runs the suite on); exits 1 when
// the run cannot count as a pass. Run by .ci/run (and by hand: node .ci/summary.mjs, which reads
// test-results/vitest.json; or name the reports: node .ci/summary.mjs 22=test-results/vitest-22.json).
//
// - A report that is missing (the run on that version never finished: Node.js could not be
//   installed, Vitest crashed) counts as one failure.
// - A test file that fails to load (a syntax error, a throw at import, a stray `.only` under
//   CI=true, KILN_TEST_PG=required without PostgreSQL) has no failed test in the report, only a
//   failed file: each counts as one failure here, or the run would read "0 failed".
// - Fewer passed tests in any one report than .ci/min-passed (zero included) means tests
//   silently stopped running there: a failure too.
import { readFileSync } from "node:fs";

const FLOOR_FILE = ".ci/min-passed";
const args = process.argv.slice(2);
/** [label, file] of each report: `22=test-results/vitest-22.json`, or a bare file name. */
const reports = (args.length > 0 ? args : ["test-results/vitest.json"]).map((arg) => {
  const at = arg.indexOf("=");
  return at > 0 ? [`Node.js ${arg.slice(0, at)}`, arg.slice(at + 1)] : [arg, arg];
});

const floor = Number(
  readFileSync(FLOOR_FILE, "utf8")
    .split("\n")
    .filter((line) => line.trim() && !line.trim().startsWith("#"))[0],
);
const floorOk = Number.isInteger(floor) && floor >= 1;

let passed = 0;
let failed = 0;
let ok = true;
const lines = [];
for (const [label, file] of reports) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    failed += 1;
    ok = false;
    lines.push(`FAIL: ${label}: no test report (${file}): the suite did not run to the end`);
    continue;
  }
  let runFailed = report.numFailedTests;
  const unloaded = [];
  for (const testFile of report.testResults) {
    const failedTests = testFile.assertionResults.filter((t) => t.status === "failed").length;
    if (testFile.status === "failed" && failedTests === 0) {
      runFailed += 1;
      unloaded.push(
        `${testFile.name}: ${(testFile.message || "failed without a failing test").split("\n")[0]}`,
      );
    }
  }
  passed += report.numPassedTests;
  failed += runFailed;
  if (reports.length > 1) {
    lines.push(`${label}: ${report.numPassedTests} passed, ${runFailed} failed`);
  }
  for (const line of unloaded) lines.push(`  ${label}: file failed to load or run: ${line}`);
  if (runFailed > 0 || report.success === false) ok = false;
  if (floorOk && report.numPassedTests < floor) {
    lines.push(
      `FAIL: ${label}: ${report.numPassedTests} tests passed, fewer than the ${floor} in ${FLOOR_FILE}: tests stopped running`,
    );
    ok = false;
  }
}
if (!floorOk) {
  lines.push(`FAIL: ${FLOOR_FILE} must hold a whole number of tests above 0`);
  ok = false;
}

for (const line of lines) console.log(line);
console.log(`${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
