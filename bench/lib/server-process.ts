import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";

export interface ServerProcess {
  /** The address the server announced (the first group of `ready`). */
  url: string;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** Arguments to `node`: flags (`--import tsx`, `--cpu-prof`), a script, its arguments. */
  args: string[];
  /** Matched against the server's stderr; its first group is the URL. */
  ready: RegExp;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * A file for the server's standard output; default none (/dev/null). A per-request log line
   * read back by the benchmark would steal CPU from the load generator; the server still
   * formats and writes every line either way.
   */
  stdoutFile?: string;
}

/**
 * Starts a server in its own process (it must not share an event loop, or a core, with the
 * load generator) and resolves once it announces its address on stderr.
 * @example
 * const server = await startServer({
 *   args: ["--import", "tsx", "bench/peers/fastify-hello.ts"],
 *   ready: /listening at (\S+)/,
 * });
 */
export function startServer(options: ServerOptions): Promise<ServerProcess> {
  const out = options.stdoutFile ? openSync(options.stdoutFile, "w") : "ignore";
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", out, "pipe"],
  });
  if (typeof out === "number") closeSync(out);
  return new Promise((resolve, reject) => {
    let seen = "";
    let ready = false;
    child.stderr?.on("data", (chunk: Buffer) => {
      if (ready) return; // keep draining, stop looking
      seen += chunk.toString();
      const url = options.ready.exec(seen)?.[1];
      if (url) {
        ready = true;
        resolve({ url, child, stop: () => stopProcess(child) });
      }
    });
    child.once("exit", (code, signal) => {
      if (!ready)
        reject(new Error(`node ${options.args.join(" ")} exited (${code ?? signal}):\n${seen}`));
    });
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((stopped) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      stopped();
    });
    child.kill("SIGTERM");
  });
}
