import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { errorCatalogue, type KilnErrorCode } from "../src/errors.ts";

/**
 * Keeps docs/errors.md in step with `errorCatalogue` (src/errors.ts): one row per code, with
 * the catalogue's status and description, and no row for a code the catalogue lacks. That the
 * sources raise only catalogue codes needs no test: `KilnErrorCode` makes tsc refuse any other.
 */
const SRC = resolve(import.meta.dirname, "../src");
const DOC = resolve(import.meta.dirname, "../../../docs/errors.md");

interface DocRow {
  code: string;
  status: string;
  meaning: string;
  fix: string;
}

/** The rows of the table: `| KILN_CODE | status | meaning | how to fix |`. */
function documentedRows(): DocRow[] {
  const rows: DocRow[] = [];
  for (const line of readFileSync(DOC, "utf8").split("\n")) {
    const match = /^\|\s*`?(KILN_[A-Z0-9_]+)`?\s*\|([^|]*)\|(.*)\|(.*)\|\s*$/.exec(line);
    if (match) {
      rows.push({
        code: match[1] as string,
        status: (match[2] as string).trim(),
        meaning: (match[3] as string).trim(),
        fix: (match[4] as string).trim(),
      });
    }
  }
  return rows;
}

const catalogue = Object.keys(errorCatalogue) as KilnErrorCode[];

describe("error codes: errorCatalogue and docs/errors.md agree", () => {
  it("every code in errorCatalogue has a row in docs/errors.md, and every row is in the catalogue", () => {
    const documented = documentedRows().map((row) => row.code);
    expect(
      catalogue.filter((code) => !documented.includes(code)),
      "add a row `| KILN_CODE | status | meaning | how to fix |` to docs/errors.md",
    ).toEqual([]);
    expect(
      documented.filter((code) => !(catalogue as string[]).includes(code)),
      "these rows of docs/errors.md are not in errorCatalogue",
    ).toEqual([]);
  });

  it("each code has one row, with the catalogue's status and meaning and a way to fix it", () => {
    const seen = new Set<string>();
    for (const row of documentedRows()) {
      expect(seen.has(row.code), `${row.code} is documented twice`).toBe(false);
      seen.add(row.code);
      const entry = errorCatalogue[row.code as KilnErrorCode];
      if (!entry) continue; // a row the catalogue lacks: the test above names it
      expect(row.status, `${row.code}: status differs from errorCatalogue`).toBe(
        String(entry.status),
      );
      expect(row.meaning, `${row.code}: meaning differs from errorCatalogue`).toBe(
        entry.description,
      );
      expect(row.fix.length, `${row.code}: "How to fix" is empty`).toBeGreaterThan(0);
    }
  });

  it("every status is 4xx (the client's doing) or 5xx (the code's, or an outage)", () => {
    const bad = catalogue.filter((code) => {
      const { status } = errorCatalogue[code];
      return !Number.isInteger(status) || status < 400 || status > 599;
    });
    expect(bad).toEqual([]);
  });

  it("every code in errorCatalogue is raised somewhere in src (no dead codes)", () => {
    // A code is raised where it appears quoted ("KILN_SOMETHING"); the catalogue's own keys
    // are unquoted, so an entry nobody uses shows up here.
    const text = readdirSync(SRC, { recursive: true, encoding: "utf8" })
      .filter((file) => /\.[mc]?[tj]s$/.test(file))
      .map((file) => readFileSync(join(SRC, file), "utf8"))
      .join("\n");
    expect(catalogue.filter((code) => !text.includes(`"${code}"`))).toEqual([]);
  });
});
