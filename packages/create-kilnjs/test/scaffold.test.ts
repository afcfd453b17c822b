import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const REPO = resolve(import.meta.dirname, "../../..");
const CREATE_BIN = join(REPO, "packages/create-kilnjs/bin/create-kilnjs.js");
const KILN_BIN = join(REPO, "packages/kiln/bin/kiln.js");
const tmp = mkdtempSync(join(tmpdir(), "create-kilnjs-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs a CLI (a bin script) in `tmp`; its exit code and output. */
async function run(bin: string, args: string[]) {
  return promisify(execFile)(process.execPath, [bin, ...args], { cwd: tmp }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

/** Every file under `dir`, relative path → text. */
function filesIn(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile()) files[relative(dir, path)] = readFileSync(path, "utf8");
  }
  return files;
}

describe("create-kilnjs", { timeout: 120_000 }, () => {
  it("writes an app that depends on this release of kilnjs, TypeScript and Node's types", async () => {
    const created = await run(CREATE_BIN, ["my-api"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^Created my-api in .*my-api\n/);
    expect(created.stdout).toMatch(/^ {2}npm run dev/m);
    const files = filesIn(join(tmp, "my-api"));
    expect(Object.keys(files).sort()).toEqual([
      ".gitignore",
      "kiln.yaml",
      "package.json",
      "server/hello.ts",
      "tsconfig.json",
    ]);
    const manifest = JSON.parse(files["package.json"] ?? "");
    const kiln = JSON.parse(readFileSync(join(REPO, "packages/kiln/package.json"), "utf8"));
    const [major, minor] = String(kiln.version).split(".");
    // The range the app asks for is the kilnjs released with this package (same major.minor).
    expect(manifest.dependencies).toEqual({ kilnjs: `^${major}.${minor}.0` });
    expect(manifest.devDependencies).toEqual({
      typescript: "~5.9.3",
      "@types/node": `^${process.versions.node.split(".")[0]}.0.0`,
    });
    expect(manifest.allowScripts).toEqual({ "better-sqlite3": true, esbuild: true });
    expect(manifest.scripts).toMatchObject({
      start: "kiln start .",
      dev: "kiln dev .",
      typecheck: "kiln types && tsc --noEmit",
    });
  });

  it("writes files exactly as Biome formats them", () => {
    const dir = join(tmp, "my-api");
    for (const [file, text] of Object.entries(filesIn(dir))) {
      if (!/\.(json|ts)$/.test(file)) continue;
      const formatted = execFileSync(
        join(REPO, "node_modules/.bin/biome"),
        ["format", `--stdin-file-path=${file}`],
        { cwd: REPO, input: text, encoding: "utf8" },
      );
      expect(formatted, file).toBe(text);
    }
  });

  it("kiln new writes the very same app", async () => {
    const created = await run(KILN_BIN, ["new", "my-api-2"]);
    expect(created.code, created.stderr).toBe(0);
    const viaCreate = filesIn(join(tmp, "my-api"));
    const viaKiln = filesIn(join(tmp, "my-api-2"));
    expect(viaKiln["package.json"]).toBe(
      viaCreate["package.json"]?.replace('"name": "my-api"', '"name": "my-api-2"'),
    );
    expect(viaKiln["kiln.yaml"]).toBe(viaCreate["kiln.yaml"]?.replace("my-api", "my-api-2"));
    for (const file of ["tsconfig.json", "server/hello.ts", ".gitignore"]) {
      expect(viaKiln[file], file).toBe(viaCreate[file]);
    }
  });

  it("refuses a folder that is not empty (exit 1) and a missing or extra argument (exit 2)", async () => {
    mkdirSync(join(tmp, "occupied"));
    writeFileSync(join(tmp, "occupied", "file.txt"), "mine");
    const [occupied, missing, extra] = await Promise.all([
      run(CREATE_BIN, ["occupied"]),
      run(CREATE_BIN, []),
      run(CREATE_BIN, ["a", "b"]),
    ]);
    expect(occupied.code).toBe(1);
    expect(occupied.stderr.trim()).toBe(
      "create-kilnjs: occupied already exists and is not empty; nothing was written",
    );
    expect(readdirSync(join(tmp, "occupied"))).toEqual(["file.txt"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^create-kilnjs: missing DIR\n/);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^create-kilnjs: unexpected argument: b\n/);
  });
});
