import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";

const RESULTS = join(import.meta.dirname, "..", "results");

/** The machine a figure was measured on: a figure without it means little. */
export function machine() {
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

/**
 * Writes `bench/results/NAME-<timestamp>.json` (the folder is gitignored) and returns its path.
 * @example writeReport("hello", { settings, figures, ratio });
 */
export function writeReport(name: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = join(RESULTS, `${name}-${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ name, date: new Date(), machine: machine(), ...data }, null, 2)}\n`,
  );
  return file;
}

/** Prints rows as an aligned plain-text table (first row: the headings). */
export function printTable(rows: (string | number)[][]): void {
  const widths =
    rows[0]?.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? "").length))) ?? [];
  for (const row of rows) {
    console.log(
      row
        .map((cell, i) =>
          i === 0 ? String(cell).padEnd(widths[i] ?? 0) : String(cell).padStart(widths[i] ?? 0),
        )
        .join("  "),
    );
  }
}

/**
 * The median of `values` (the mean of the middle two for an even count), or null for none: the
 * benches judge a goal on the median of their rounds' ratios, which other work moves least.
 */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
