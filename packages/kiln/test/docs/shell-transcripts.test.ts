/**
 * The shell transcripts of the docs, run as written: a reader who types them gets what the
 * page shows, and a change to Kiln that alters an output fails here, naming the page and line.
 *
 * The convention, for README.md and docs/*.md: a fenced block opened with ```console is a
 * transcript. A line starting with `$ ` is a command; the lines after it, up to the next
 * command, are what it prints (standard output and error, as a terminal shows them). In an
 * output line `...` stands for any text on that line (a temporary path), and a line that is
 * only `...` for any number of lines. Each page runs in a fresh empty folder, its transcripts
 * one after another in one bash session (so `cd` and files carry over from block to block),
 * with `kiln` (and `npx kiln`) being this repository's CLI and no PORT, KILN_* or DATABASE_URL
 * from the caller. Commands that need the network, root or a server that stays up (`npm install`,
 * systemctl, `kiln start` that succeeds, curl) go in ```sh blocks, which are not run, each with
 * a line saying why or which test covers it; README's walkthrough is run by
 * examples/todo/test/walkthrough.test.ts (curl against `kiln start`) and docs/tokens.md by
 * tokens-doc.test.ts, so both are left to those.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KILN_BIN, tempFolder } from "../cli/run-kiln.ts";

const REPO = resolve(import.meta.dirname, "../../../..");

/** Transcripts run by their own tests (see above): the page, and the part of it. */
const RUN_ELSEWHERE: Record<string, (text: string) => string> = {
  "README.md": (text) =>
    text
      .split(/^(?=## )/m)
      .filter((section) => !section.startsWith("## Walkthrough: the To-Do API"))
      .join(""),
  "docs/tokens.md": () => "",
};

interface Step {
  /** `docs/getting-started.md:21`: where the command is. */
  where: string;
  command: string;
  /** The lines it prints. */
  expected: string[];
}

/** The steps of a page's ```console blocks, in order. */
function transcript(page: string): Step[] {
  const whole = readFileSync(join(REPO, page), "utf8");
  const text = RUN_ELSEWHERE[page]?.(whole) ?? whole;
  const steps: Step[] = [];
  for (const block of text.matchAll(/^```console\n([\s\S]*?)^```$/gm)) {
    // Line numbers from the page as it is, for the failure message.
    const first = whole.indexOf(block[0]);
    const start = whole.slice(0, first).split("\n").length + 1;
    const lines = block[1]!.trimEnd().split("\n");
    for (const [i, line] of lines.entries()) {
      if (line.startsWith("$ ")) {
        steps.push({ where: `${page}:${start + i}`, command: line.slice(2), expected: [] });
      } else if (i === 0) {
        throw new Error(`${page}:${start}: a console block must start with a "$ " command`);
      } else {
        steps.at(-1)!.expected.push(line);
      }
    }
  }
  return steps;
}

/** The expected output as a pattern: `...` any text on a line, a `...` line any lines. */
function pattern(expected: string[]): RegExp {
  const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const lines = expected
    .join("\n")
    .trim()
    .split("\n")
    .map((line) =>
      line === "..." ? "[\\s\\S]*" : line.trimEnd().split("...").map(literal).join(".*"),
    );
  return new RegExp(`^${lines.join("\n")}$`);
}

const pages = [
  "README.md",
  ...readdirSync(join(REPO, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`),
];
const transcripts = pages
  .map((page) => ({ page, steps: transcript(page) }))
  .filter((t) => t.steps.length > 0);

const folders: ReturnType<typeof tempFolder>[] = [];
afterAll(() => {
  for (const folder of folders) folder.remove();
});

/** Runs a page's commands in one bash session; returns what each printed. */
function runPage(steps: Step[]): string[] {
  const folder = tempFolder();
  folders.push(folder);
  const work = join(folder.dir, "work");
  const bin = join(folder.dir, "bin");
  mkdirSync(work);
  mkdirSync(bin);
  writeFileSync(join(bin, "kiln"), `#!/bin/sh\nexec "${process.execPath}" "${KILN_BIN}" "$@"\n`);
  chmodSync(join(bin, "kiln"), 0o755);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  for (const name of ["PORT", "KILN_DATA", "KILN_SECRET", "DATABASE_URL", "LOG_LEVEL"]) {
    delete env[name];
  }
  const END = "@@kiln-transcript-step@@";
  // `npx kiln ...` is the CLI too, as in a project that depends on kilnjs.
  const npx = `npx() { if [ "$1" = kiln ]; then shift; kiln "$@"; else command npx "$@"; fi; }`;
  const script = [
    npx,
    ...steps.map((s) => `{ ${s.command}\n} 2>&1 </dev/null\nprintf '\\n%s\\n' '${END}'`),
  ].join("\n");
  const run = spawnSync("bash", ["-c", script], {
    cwd: work,
    env,
    encoding: "utf8",
    timeout: 240_000,
  });
  expect(run.error, run.stderr).toBeUndefined();
  return run.stdout.split(`\n${END}\n`).map((output) =>
    output
      .split("\n")
      .map((line) => line.trimEnd())
      .join("\n")
      .trim(),
  );
}

describe("the docs' shell transcripts", () => {
  it("include the pages written as transcripts", () => {
    const found = transcripts.map((t) => t.page);
    for (const page of [
      "docs/cli.md",
      "docs/configuration.md",
      "docs/deployment.md",
      "docs/deployment-recipes.md",
      "docs/getting-started.md",
    ]) {
      expect(found).toContain(page);
    }
  });

  it("run every kiln command that needs no server (start and dev: the walkthrough's test)", () => {
    const commands = transcripts.flatMap((t) => t.steps.map((step) => step.command)).join("\n");
    const ran = (command: string) => new RegExp(`\\bkiln ${command}(?![\\w-])`).test(commands);
    const actions = {
      users: ["add", "list", "disable", "enable", "set-password", "remove"],
      tokens: ["add", "list", "revoke", "revoke-all"],
      tables: ["list", "show", "export", "import", "migrate"],
    };
    const commandsOfKiln = [
      "new",
      "types",
      "--version",
      ...Object.entries(actions).flatMap(([group, names]) => names.map((n) => `${group} ${n}`)),
    ];
    expect(commandsOfKiln.filter((command) => !ran(command))).toEqual([]);
  });

  for (const { page, steps } of transcripts) {
    it(`${page} prints what it shows`, { timeout: 300_000 }, () => {
      const outputs = runPage(steps);
      for (const [i, step] of steps.entries()) {
        expect(outputs[i], `${step.where}: $ ${step.command}`).toMatch(pattern(step.expected));
      }
    });
  }
});
