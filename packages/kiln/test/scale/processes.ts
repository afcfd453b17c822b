import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningKiln, runKiln, SERVING, startKiln } from "../cli/run-kiln.ts";

/** The app the scale tests run (kiln.yaml + server/endpoints.ts beside this file). */
export const SCALE_APP = fileURLToPath(new URL("./app", import.meta.url));

/** A `kiln start` process that announced its URL. */
export interface Served {
  /** The API's base URL, prefix included (`http://127.0.0.1:PORT/_/api`). */
  readonly api: string;
  readonly kiln: RunningKiln;
}

/**
 * `kiln start APP --port 0 --data DATA ...args` with `env` (DATABASE_URL, KILN_SECRET),
 * resolved once it prints "kiln: NAME is serving at URL".
 * @example const a = await serve({ data, env: { DATABASE_URL: url } });
 */
export async function serve(options: {
  data: string;
  env?: Record<string, string>;
  app?: string;
  args?: string[];
}): Promise<Served> {
  const kiln = startKiln(
    [
      "start",
      options.app ?? SCALE_APP,
      "--port",
      "0",
      "--data",
      options.data,
      ...(options.args ?? []),
    ],
    { env: { LOG_LEVEL: "warn", ...options.env } },
  );
  // A cold start under a loaded CI machine (tsx compiling the app, PostgreSQL migrating
  // behind the advisory lock) can take a while: wait generously, the test fails on exit anyway.
  const match = await kiln.waitFor(SERVING, 40_000);
  return { api: match[1]!, kiln };
}

/** Runs a `kiln` CLI command (users, tables) to completion; throws with its output on failure. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await runKiln(args, { env, timeoutMs: 40_000 });
  if (result.code !== 0) {
    throw new Error(`kiln ${args.join(" ")} exited ${result.code}:\n${result.stderr}`);
  }
  return result.stdout;
}

/** A temp folder, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body parsed as JSON, or the text when it is not JSON. */
  body: unknown;
}

/**
 * One HTTP request on a fresh connection (no keep-alive): with `--workers`, node:cluster
 * hands each new connection to the next worker, so successive calls reach different workers.
 * `form` is sent urlencoded.
 */
export function call(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    form?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const body = options.form ? new URLSearchParams(options.form).toString() : undefined;
  const headers: Record<string, string> = { ...options.headers };
  if (body !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
  return new Promise((done, fail) => {
    const req = http.request(
      url,
      { method: options.method ?? (body ? "POST" : "GET"), headers, agent: false },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {}
          done({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    // A request left unanswered fails the test with its URL rather than hanging it.
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer in 15 s: ${url}`)));
    req.on("error", fail);
    req.end(body);
  });
}

/** `Authorization: Basic ...` for an email and password. */
export function basic(email: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${email}:${password}`).toString("base64")}` };
}

/** The `Cookie` header a browser would send back after a response's `Set-Cookie` headers. */
export function cookieFrom(answer: Answer): Record<string, string> {
  const cookies = (answer.headers["set-cookie"] ?? []).map((line) => line.split(";")[0]!);
  return { cookie: cookies.join("; ") };
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Polls `check` every 50 ms until it returns a value other than undefined, or times out. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((wait) => setTimeout(wait, 50));
  }
}
