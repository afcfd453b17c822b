import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Prints `message` once per test run, not once per file: Vitest runs each file in its own
 * process, and a marker file keyed by the runner's pid (our parent) dedupes.
 * @example noticeOnce("pg", "PostgreSQL tests skipped: ...");
 */
export function noticeOnce(topic: string, message: string): void {
  try {
    writeFileSync(join(tmpdir(), `kiln-${topic}-notice-${process.ppid}`), "", { flag: "wx" });
  } catch {
    return;
  }
  console.warn(message);
}
