/**
 * Runs every command of the README's walkthrough ("Walkthrough: the To-Do API") against
 * `kiln start examples/todo` in a separate process, with the real curl, and checks that each
 * prints exactly what the README shows. The README is the test's script: edit one, run this.
 *
 * In the README's ```console blocks, `$ ` starts a command and the lines after it are its
 * output. `localhost:3000` becomes the test server's address, `npx kiln` this repository's
 * CLI, and KILN_DATA points every command at the test's own data folder.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = new URL("../../..", import.meta.url).pathname;
const kilnBin = join(root, "packages/kiln/bin/kiln.js");

interface Step {
  command: string;
  output: string;
}

function walkthroughSection(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  return readme.split(/^## /m).find((s) => s.startsWith("Walkthrough: the To-Do API")) ?? "";
}

/** The walkthrough's commands and outputs, in order. */
function walkthroughSteps(): Step[] {
  const section = walkthroughSection();
  const steps: Step[] = [];
  for (const block of section?.matchAll(/^```console\n([\s\S]*?)^```/gm) ?? []) {
    for (const line of block[1]!.split("\n")) {
      if (line.startsWith("$ ")) steps.push({ command: line.slice(2), output: "" });
      else if (steps.length > 0 && line !== "") {
        const step = steps[steps.length - 1]!;
        step.output += (step.output ? "\n" : "") + line;
      }
    }
  }
  return steps;
}

const steps = walkthroughSteps();
let server: ChildProcess;
let address: string;
let data: string;

beforeAll(async () => {
  data = mkdtempSync(join(tmpdir(), "kiln-walkthrough-"));
  server = spawn(
    process.execPath,
    [kilnBin, "start", "examples/todo", "--port", "0", "--data", data],
    { cwd: root, env: { ...process.env, KILN_DATA: data }, stdio: ["ignore", "ignore", "pipe"] },
  );
  address = await new Promise<string>((resolve, reject) => {
    let seen = "";
    server.stderr?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /serving at http:\/\/([^/\s]+)\/_\/api/.exec(seen);
      if (match) resolve(match[1]!);
    });
    server.once("exit", (code) => reject(new Error(`kiln start exited (${code}): ${seen}`)));
  });
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((done) => server.once("exit", done));
    server.kill("SIGTERM");
    await exited;
  }
  rmSync(data, { recursive: true, force: true });
});

describe("the README walkthrough, run with curl against kiln start", () => {
  it("has the commands of every step (hello, users, list, create, one task, update, delete)", () => {
    const all = steps.map((s) => s.command).join("\n");
    for (const part of [
      "/_/api/hello",
      "users add",
      "/_/api/tasks",
      "new_task",
      "-X PUT",
      "-X DELETE",
    ]) {
      expect(all).toContain(part);
    }
  });

  it("shows the code of examples/todo/server/tasks.ts, all of it and as it is", () => {
    const file = readFileSync(join(root, "examples/todo/server/tasks.ts"), "utf8");
    const shown = [...walkthroughSection().matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) =>
      m[1]!.replace(/^\/\/ examples\/todo\/server\/tasks.ts\n/, ""),
    );
    for (const snippet of shown) expect(file).toContain(snippet.trim());
    const shownLines = new Set(shown.join("\n").split("\n"));
    const unshown = file.split("\n").filter((line) => line.trim() && !shownLines.has(line));
    expect(unshown).toEqual([]);
  });

  for (const [i, step] of steps.entries()) {
    it(`${i + 1}. $ ${step.command}`, () => {
      const command = step.command
        .replaceAll("localhost:3000", address)
        .replace(/^npx kiln /, `"${process.execPath}" "${kilnBin}" `);
      const run = spawnSync("bash", ["-c", command], {
        cwd: root,
        env: { ...process.env, KILN_DATA: data },
        encoding: "utf8",
        timeout: 20_000,
      });
      expect(run.stderr, "stderr").toBe("");
      expect(run.status, "exit code").toBe(0);
      expect(run.stdout.trimEnd()).toBe(step.output);
    });
  }
});
