import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { errorCatalogue } from "../src/errors.ts";

/**
 * Keeps three lists in step: the codes the sources raise, `errorCatalogue` (src/errors.ts) and
 * the table in docs/errors.md. A code counts as raised when it appears as a quoted string
 * literal ("KILN_SOMETHING") in packages/kiln/src; environment variables (KILN_DATA,
 * KILN_SECRET...) are read as `env.KILN_...` and never quoted, so they do not count.
 */
const SRC = resolve(import.meta.dirname, "../src");
const DOC = resolve(import.meta.dirname, "../../../docs/errors.md");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => /\.[mc]?[tj]s$/.test(file))
    .map((file) => join(dir, file));
}

/** Code → the files that raise it. */
function codesInSources(): Map<string, string[]> {
  const codes = new Map<string, string[]>();
  const envVars = new Set<string>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    for (const [, name] of text.matchAll(/env\.(KILN_[A-Z0-9_]+)/g)) envVars.add(name as string);
    for (const [, code] of text.matchAll(/["'](KILN_[A-Z0-9_]+)["']/g)) {
      const files = codes.get(code as string) ?? [];
      files.push(relative(SRC, file));
      codes.set(code as string, files);
    }
  }
  for (const name of envVars) codes.delete(name);
  return codes;
}

interface DocRow {
  code: string;
  meaning: string;
  fix: string;
}

function documentedRows(): DocRow[] {
  const rows: DocRow[] = [];
  for (const line of readFileSync(DOC, "utf8").split("\n")) {
    const match = /^\|\s*`?(KILN_[A-Z0-9_]+)`?\s*\|(.*)\|(.*)\|\s*$/.exec(line);
    if (match) {
      rows.push({
        code: match[1] as string,
        meaning: (match[2] as string).trim(),
        fix: (match[3] as string).trim(),
      });
    }
  }
  return rows;
}

const catalogue = Object.keys(errorCatalogue);

describe("error codes: sources, errorCatalogue and docs/errors.md agree", () => {
  it("every code raised in packages/kiln/src is in errorCatalogue", () => {
    const missing = [...codesInSources()]
      .filter(([code]) => !catalogue.includes(code))
      .map(([code, files]) => `${code} (raised in ${[...new Set(files)].join(", ")})`);
    expect(missing, "add these to errorCatalogue in src/errors.ts").toEqual([]);
  });

  it("every code in errorCatalogue is raised somewhere (no dead codes)", () => {
    const raised = codesInSources();
    expect(catalogue.filter((code) => !raised.has(code))).toEqual([]);
  });

  it("every code in errorCatalogue has a row in docs/errors.md, and every row is in the catalogue", () => {
    const documented = documentedRows().map((row) => row.code);
    expect(
      catalogue.filter((code) => !documented.includes(code)),
      "add a row `| KILN_CODE | meaning | how to fix |` to docs/errors.md",
    ).toEqual([]);
    expect(documented.filter((code) => !catalogue.includes(code))).toEqual([]);
  });

  it("each code has one row, with the catalogue's meaning and a way to fix it", () => {
    const rows = documentedRows();
    const seen = new Set<string>();
    for (const row of rows) {
      expect(seen.has(row.code), `${row.code} is documented twice`).toBe(false);
      seen.add(row.code);
      const meaning = errorCatalogue[row.code as keyof typeof errorCatalogue];
      expect(row.meaning, `${row.code}: meaning differs from errorCatalogue`).toBe(meaning);
      expect(row.fix.length, `${row.code}: "How to fix" is empty`).toBeGreaterThan(0);
    }
  });
});
