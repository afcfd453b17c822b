import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

/** The kiln package folder and its CLI, run exactly as a user runs it. */
export const KILN_PACKAGE = resolve(import.meta.dirname, "../..");
export const KILN_BIN = join(KILN_PACKAGE, "bin", "kiln.js");

/** The environment for CLI runs: no PORT/KILN_* leaking in from the caller. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["PORT", "KILN_DATA", "KILN_SECRET", "DATABASE_URL", "LOG_LEVEL"]) {
    delete env[name];
  }
  return { ...env, ...extra };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `kiln ...args` to completion (killed after `timeoutMs`). */
export function runKiln(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Finished> {
  const child = spawnKiln(args, options);
  const output = collect(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  return new Promise((done) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, ...output });
    });
  });
}

/** A long-running kiln process (start, dev) and what it has written so far. */
export interface RunningKiln {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /**
   * Resolves when stderr (or stdout) matches; rejects after `timeoutMs` or on exit. The
   * default is generous: a loaded 2-core machine can take many seconds to start a process.
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if still alive after 5 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function startKiln(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): RunningKiln {
  const child = spawnKiln(args, options);
  const output = collect(child);
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  const running: RunningKiln = {
    child,
    get stdout() {
      return output.stdout;
    },
    get stderr() {
      return output.stderr;
    },
    exited,
    waitFor(pattern, timeoutMs = 45_000) {
      return new Promise((found, fail) => {
        const started = Date.now();
        const poll = () => {
          const match = output.stderr.match(pattern) ?? output.stdout.match(pattern);
          if (match) return found(match);
          if (exitCode !== undefined || Date.now() - started > timeoutMs) {
            const why = exitCode !== undefined ? `exited with ${exitCode}` : "timed out";
            return fail(
              new Error(`kiln ${args.join(" ")} ${why} before printing ${pattern}
--- stderr:
${output.stderr}
--- stdout:
${output.stdout}`),
            );
          }
          setTimeout(poll, 25);
        };
        poll();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return running;
}

function spawnKiln(args: string[], options: { cwd?: string; env?: Record<string, string> }) {
  return spawn(process.execPath, [KILN_BIN, ...args], {
    cwd: options.cwd ?? tmpdir(),
    env: cleanEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function collect(child: ChildProcess): { stdout: string; stderr: string } {
  const output = { stdout: "", stderr: "" };
  child.stdout?.on("data", (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  return output;
}

/** A temp folder; `node_modules/kiln` links to this package so apps can `import "kilnjs"`. */
export function tempFolder(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "kiln-cli-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(KILN_PACKAGE, join(dir, "node_modules", "kilnjs"), "dir");
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes files (relative path → text) under `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
}

/**
 * A GET on a fresh connection (no keep-alive pool), so refused connections show as such.
 * `headers` may set `host` to another name than the URL's (the server is still the URL's).
 */
export function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", fail);
  });
}

/** The URL `kiln start` announces on stderr ("kiln: NAME is serving at URL"). */
export const SERVING = /kiln: \S+ is serving at (http:\/\/\S+)/;
