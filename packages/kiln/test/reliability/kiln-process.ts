import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root and the `kiln` CLI, as a user runs it. */
export const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
export const KILN_BIN = fileURLToPath(new URL("../../bin/kiln.js", import.meta.url));
export const TODO_APP = fileURLToPath(new URL("../../../../examples/todo", import.meta.url));

export interface KilnProcess {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr, interleaved). */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` to the server's whole process group (it runs detached, as its own group). */
  signal(signal: NodeJS.Signals): void;
}

export interface StartOptions {
  app?: string;
  data: string;
  env?: NodeJS.ProcessEnv;
  args?: string[];
  /** Flags for node itself (before the script), e.g. `--trace-gc`. */
  nodeArgs?: string[];
  /**
   * Keep everything the server prints for `output()` (default true). A benchmark passes false:
   * at thousands of requests a second the log would grow the load generator's heap by tens of
   * megabytes and its garbage collection would show up as server latency.
   */
  keepOutput?: boolean;
  /** Called with everything the server prints (stdout and stderr), chunk by chunk. */
  onOutput?: (text: string) => void;
}

/**
 * `kiln start APP --port 0 --data DATA` in its own process group (detached), resolved once it
 * prints the URL it serves at. A crash test kills the group, so nothing it started survives.
 */
export function startKiln(options: StartOptions): Promise<KilnProcess> {
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      KILN_BIN,
      "start",
      options.app ?? TODO_APP,
      "--port",
      "0",
      "--data",
      options.data,
      ...(options.args ?? []),
    ],
    {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, LOG_LEVEL: "info", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let seen = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => done({ code, signal })),
  );
  const keep = options.keepOutput ?? true;
  let started = false;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      options.onOutput?.(text);
      if (started && !keep) return; // still read, so the server never blocks on a full pipe
      seen += text;
      if (started) return;
      const match = /serving at (http:\/\/[\w.:[\]-]+)/.exec(seen);
      if (match && child.pid !== undefined) {
        started = true;
        resolve({
          url: match[1]!,
          pid: child.pid,
          child,
          output: () => seen,
          exited,
          signal: (signal) => {
            try {
              process.kill(-child.pid!, signal);
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
            }
          },
        });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    exited.then(({ code, signal }) =>
      reject(new Error(`kiln start exited early (${code ?? signal}):\n${seen}`)),
    );
  });
}

/** Runs a `kiln` CLI command to completion; throws with its output when it fails. */
export function kilnCli(args: string[], env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(process.execPath, [KILN_BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new Error(`kiln ${args.join(" ")} failed (${result.status}):\n${result.stderr}`);
  }
  return result.stdout;
}

/** `Authorization: Basic ...` for an email and password. */
export function basicAuth(email: string, password: string): string {
  return `Basic ${Buffer.from(`${email}:${password}`, "utf8").toString("base64")}`;
}
