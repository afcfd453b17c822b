import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  KILN_BIN,
  type RunningKiln,
  SERVING,
  startKiln,
  tempFolder,
  writeFiles,
} from "../cli/run-kiln.ts";

/*
 * docs/tokens.md, run as written: its kiln.yaml and server module become an app folder, its
 * shell lines run in bash (with `kiln` being this package's CLI) against `kiln start`, and every
 * `$` command of the console session must print what the doc says it prints ("..." matching
 * anything). A change to Kiln that breaks the doc fails here.
 */

const DOC = resolve(import.meta.dirname, "../../../../docs/tokens.md");
const text = readFileSync(DOC, "utf8");

/** The fenced blocks of the doc: their info string (`ts server/notes.ts`) and text. */
const blocks = [...text.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({
  info: m[1]!.trim(),
  body: m[2]!,
}));
const file = (name: string) => {
  const block = blocks.find((b) => b.info.split(/\s+/)[1] === name);
  if (!block) throw new Error(`docs/tokens.md has no block for ${name}`);
  return block.body;
};

let folder: ReturnType<typeof tempFolder>;
let server: RunningKiln;
let env: NodeJS.ProcessEnv;

/** Runs a bash script in the app folder, `kiln` being this package's CLI. */
function bash(script: string) {
  return spawnSync("bash", ["-c", script], { cwd: folder.dir, env, encoding: "utf8" });
}

beforeAll(async () => {
  folder = tempFolder();
  writeFiles(folder.dir, {
    "kiln.yaml": file("kiln.yaml"),
    "server/notes.ts": file("server/notes.ts"),
  });
  const bin = join(folder.dir, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "kiln"), `#!/bin/sh\nexec "${process.execPath}" "${KILN_BIN}" "$@"\n`);
  chmodSync(join(bin, "kiln"), 0o755);
  env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  for (const name of ["PORT", "KILN_DATA", "KILN_SECRET", "DATABASE_URL"]) delete env[name];

  // The "create an account and start the app" block, with `kiln start` on a free port.
  const setup = blocks.find((b) => b.info === "sh" && b.body.includes("kiln start"))!.body;
  const [add, start] = setup.trim().split("\n");
  expect(start).toBe("kiln start");
  const added = bash(add!);
  expect(added.status, added.stderr).toBe(0);
  server = startKiln(["start", folder.dir, "--port", "0"]);
  await server.waitFor(SERVING);
}, 90_000);

afterAll(async () => {
  await server?.stop();
  folder?.remove();
});

describe("docs/tokens.md", () => {
  it("the curl session prints what the doc says", () => {
    const origin = server.stderr.match(SERVING)![1]!.replace(/\/_\/api.*$/, "");
    const session = blocks.find((b) => b.info === "console")!.body;
    const steps: { command: string; expected: string[] }[] = [];
    for (const line of session.trimEnd().split("\n")) {
      if (line.startsWith("$ ")) steps.push({ command: line.slice(2), expected: [] });
      else steps.at(-1)!.expected.push(line);
    }
    expect(steps[0]!.command).toBe("API=http://localhost:3000/_/api");
    steps[0]!.command = `API=${origin}/_/api`;
    const END = "@@kiln-doc-step@@";
    const script = steps.map((s) => `${s.command}\necho\necho ${END}`).join("\n");
    const run = bash(script);
    expect(run.status, run.stderr).toBe(0);
    const outputs = run.stdout.split(`${END}\n`);
    for (const [i, step] of steps.entries()) {
      const printed = outputs[i]!.trim();
      const expected = step.expected.join("\n").trim();
      const pattern = new RegExp(
        `^${expected
          .split("...")
          .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
          .join(".+")}$`,
      );
      expect(printed, `$ ${step.command}`).toMatch(pattern);
    }
  });

  it("the 401 challenge the doc shows is the one sent", () => {
    const shown = blocks.find((b) => b.info === "text" && b.body.startsWith("WWW-Authenticate"))!;
    const origin = server.stderr.match(SERVING)![1]!.replace(/\/_\/api.*$/, "");
    const run = bash(
      `curl -s -D - -o /dev/null ${origin}/_/api/notes -H "Authorization: Bearer kiln_${"x".repeat(43)}"`,
    );
    const header = run.stdout.split("\r\n").find((l) => /^www-authenticate:/i.test(l));
    expect(header?.replace(/^www-authenticate/i, "WWW-Authenticate")).toBe(shown.body.trim());
  });
});
