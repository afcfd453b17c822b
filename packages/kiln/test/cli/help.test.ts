import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runKiln } from "./run-kiln.ts";

/** The command names `kiln --help` lists (so commands added later are covered too). */
function listedCommands(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1] ?? "";
  return [...section.matchAll(/^ {2}([a-z][\w-]*) /gm)].map((m) => m[1] as string);
}

describe("kiln --help and exit codes", { timeout: 120_000 }, () => {
  it("kiln --help lists the commands and exits 0", async () => {
    const { code, stdout } = await runKiln(["--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: kiln <command>/m);
    expect(listedCommands(stdout)).toEqual(expect.arrayContaining(["start", "dev", "new"]));
    expect(stdout).toMatch(/Exit codes: 0 ok, 1 runtime failure, 2 usage error/);
  });

  it("every command answers --help with its usage and exits 0 (-h too)", async () => {
    const commands = listedCommands((await runKiln(["--help"])).stdout);
    const runs = await Promise.all([
      ...commands.map((name) => runKiln([name, "--help"])),
      runKiln(["start", "-h"]),
    ]);
    [...commands, "start"].forEach((name, i) => {
      expect(runs[i]?.code, `kiln ${name} --help`).toBe(0);
      expect(runs[i]?.stdout, `kiln ${name} --help`).toMatch(new RegExp(`^Usage: kiln ${name}\\b`));
    });
  });

  it("kiln with no command prints the usage and exits 2", async () => {
    const { code, stdout } = await runKiln([]);
    expect(code).toBe(2);
    expect(stdout).toMatch(/Usage: kiln <command>/);
  });

  it("an unknown command is a one-line usage error, exit 2", async () => {
    const { code, stderr } = await runKiln(["serve"]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('kiln: unknown command "serve". Run "kiln --help" for the list.');
  });

  it("an unknown option or a bad --port is a usage error, exit 2, naming the problem", async () => {
    const [unknown, badPort] = await Promise.all([
      runKiln(["start", "--colour"]),
      runKiln(["start", "--port", "http"]),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^kiln start: .*--colour/);
    expect(unknown.stderr).toMatch(/Run "kiln start --help" for usage\./);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/^kiln start: --port must be an integer from 0 to 65535/);
  });

  it("kiln --version prints the version of the installed kilnjs package", async () => {
    const manifest = JSON.parse(
      readFileSync(join(import.meta.dirname, "../../package.json"), "utf8"),
    ) as { version: string };
    const { code, stdout } = await runKiln(["--version"]);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(`kiln ${manifest.version}`);
  });
});
