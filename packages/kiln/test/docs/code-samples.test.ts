/**
 * Every TypeScript sample in the docs that imports "kilnjs" compiles against Kiln's real types
 * (strict, as a new app's tsconfig is): a sample that drifts from the API fails here, naming
 * the doc and the line. Each sample is a module of its own, as a reader would paste it.
 * Samples without the import are fragments continuing the text around them and are not checked.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const REPO = resolve(import.meta.dirname, "../../../..");
const dir = mkdtempSync(join(tmpdir(), "kiln-doc-samples-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Sample {
  /** `docs/tables.md:57`: where the sample's first line is. */
  where: string;
  file: string;
  code: string;
}

/** The ```ts blocks of docs/*.md and README.md that import "kilnjs". */
function samples(): Sample[] {
  const docs = readdirSync(join(REPO, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`);
  const found: Sample[] = [];
  for (const doc of ["README.md", ...docs]) {
    const text = readFileSync(join(REPO, doc), "utf8");
    for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```/gm)) {
      const code = match[1] ?? "";
      if (!/from "kilnjs";/.test(code)) continue;
      const line = text.slice(0, match.index).split("\n").length + 1;
      const file = `${doc.replace(/[/.]/g, "_")}_${line}.ts`;
      found.push({ where: `${doc}:${line}`, file, code });
    }
  }
  return found;
}

describe("the docs' code samples", () => {
  it("type-check with strict TypeScript", { timeout: 300_000 }, async () => {
    const all = samples();
    // Pages with samples: a page that lost its samples (or the import) would go unchecked.
    const pages = new Set(all.map((s) => s.where.split(":")[0]));
    for (const page of ["README.md", "docs/endpoints.md", "docs/tables.md", "docs/users.md"]) {
      expect(pages, `${page} has no sample importing "kilnjs"`).toContain(page);
    }
    for (const page of ["docs/cookies-and-sessions.md", "docs/testing.md"]) {
      expect(pages, `${page} has no sample importing "kilnjs"`).toContain(page);
    }
    mkdirSync(join(dir, "samples"));
    for (const sample of all) writeFileSync(join(dir, "samples", sample.file), sample.code);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ["node"],
          typeRoots: [join(REPO, "node_modules/@types")],
          paths: {
            kilnjs: [join(REPO, "packages/kiln/src/index.ts")],
            zod: [join(REPO, "node_modules/zod")],
          },
          allowImportingTsExtensions: true,
        },
        include: ["samples"],
      }),
    );
    const tsc = join(REPO, "node_modules/typescript/bin/tsc");
    const output = await promisify(execFile)(process.execPath, [tsc, "-p", dir], { cwd: dir }).then(
      () => "",
      (error: { stdout: string }) => error.stdout,
    );
    // Each error, pointed back at the doc: `docs/tables.md:57 + line 3: error TS2304: ...`.
    const errors = [...output.matchAll(/^samples\/(\S+?\.ts)\((\d+),\d+\): (error .*)$/gm)].map(
      ([, file, line, message]) => {
        const sample = all.find((s) => s.file === file);
        return `${sample?.where ?? file} + line ${line}: ${message}`;
      },
    );
    expect(errors).toEqual([]);
    expect(output).toBe("");
  });
});
