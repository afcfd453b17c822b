/**
 * Load: the largest request rate at which p99 latency stays under 50 ms for the To-Do list
 * endpoint (authenticated `GET /_/api/tasks`, 20 tasks) of examples/todo on `kiln start`, on
 * SQLite and on PostgreSQL, printed beside a bare Fastify route hand-wired to the same
 * database (no authentication: the ceiling).
 *
 *   npm run bench:load                      both backends (PostgreSQL skipped if unreachable)
 *   npm run bench:load -- --only sqlite     one backend
 *   npm run bench:load -- --quick           one 2 s try per rate, for a smoke run
 *
 * Method: an open-loop generator (lib/open-loop.ts): requests are due at evenly spaced times
 * and each latency counts from the time it was due, so a stall is paid by every request that
 * queued behind it. One keep-alive connection per 25 requests/s (8 to 128), three tries of 4 s
 * per rate, judged by the median try. A rate passes when p99 < 50 ms, every answer is a 2xx,
 * and at least 95% of the asked rate was answered within the try. Rates double from 250 until
 * one fails, then a bisection narrows the boundary to within ~6%. Server and load generator
 * share the machine, so the figures are for this machine only; the comparison is what carries
 * over.
 *
 * autocannon's `overallRate` is not used: it sends each connection's quota for a second in a
 * burst at the top of the second, so its p99 measured the burst, not the rate. Until
 * 2026-11-26 this bench used it, and Kiln's figure came out at 1,375-4,000 req/s run to run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import {
  basicAuth,
  type KilnProcess,
  kilnCli,
  ROOT,
  startKiln,
} from "../packages/kiln/test/reliability/kiln-process.ts";
import { openLoop } from "./lib/open-loop.ts";
import { BENCH_EMAIL, BENCH_PASSWORD, BENCH_TASKS } from "./peers/todo-seed.ts";

const QUICK = process.argv.includes("--quick");
const ONLY = process.argv[process.argv.indexOf("--only") + 1];
const STEP_SECONDS = QUICK ? 2 : 4;
const TRIES = QUICK ? 1 : 3;
const MAX_CONNECTIONS = 128;
const P99_LIMIT_MS = 50;
const PG_URL = process.env.KILN_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const AUTH = basicAuth(BENCH_EMAIL, BENCH_PASSWORD);

interface Step {
  rate: number;
  achieved: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  ok: boolean;
}

interface Result {
  name: string;
  backend: string;
  best: Step | null;
  steps: Step[];
}

async function once(url: string, headers: Record<string, string>, rate: number): Promise<Step> {
  const r = await openLoop({
    url,
    headers,
    rate,
    seconds: STEP_SECONDS,
    connections: connectionsFor(rate),
  });
  const s = {
    rate,
    achieved: r.achieved,
    p50: r.p50,
    p99: r.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
  const ok = s.p99 < P99_LIMIT_MS && s.non2xx === 0 && s.errors === 0 && s.achieved >= 0.95 * rate;
  return { ...s, ok };
}

/**
 * A rate, tried TRIES times; the verdict and figures are the median try's (by p99). On a
 * small shared machine one hiccup elsewhere can push a single p99 over any limit; the median
 * of three is what the server sustains.
 */
async function step(url: string, headers: Record<string, string>, rate: number): Promise<Step> {
  const tries: Step[] = [];
  for (let i = 0; i < TRIES; i++) tries.push(await once(url, headers, rate));
  const failed = tries.find((t) => t.non2xx > 0 || t.errors > 0);
  if (failed) return { ...failed, ok: false }; // an error answer is never noise
  return tries.sort((a, b) => a.p99 - b.p99)[Math.floor(TRIES / 2)]!;
}

/**
 * Enough connections that each sends at most ~25 requests a second (so a connection is never
 * the bottleneck below 40 ms of latency), from 8 up to MAX_CONNECTIONS.
 */
function connectionsFor(rate: number): number {
  return Math.min(MAX_CONNECTIONS, Math.max(8, Math.round(rate / 25)));
}

/** Doubles the rate until p99 breaks 50 ms, then bisects; returns the best passing step. */
async function search(name: string, backend: string, url: string, headers: Record<string, string>) {
  const check = await fetch(url, { headers });
  const body = (await check.json()) as unknown[];
  if (check.status !== 200 || body.length !== BENCH_TASKS.length) {
    throw new Error(`${name}: expected 200 and 20 tasks, got ${check.status}`);
  }
  await autocannon({ url, headers, connections: 16, duration: 2 }); // warm up
  const steps: Step[] = [];
  const run = async (rate: number) => {
    const s = await step(url, headers, rate);
    steps.push(s);
    console.log(
      `  ${name.padEnd(34)} ${String(rate).padStart(6)}/s asked ${String(s.achieved).padStart(6)}/s done  p50 ${s.p50} ms  p99 ${s.p99} ms${s.non2xx ? `  ${s.non2xx} non-2xx` : ""}${s.errors ? `  ${s.errors} errors` : ""}  ${s.ok ? "ok" : "FAIL"}`,
    );
    return s;
  };
  let good: Step | null = null;
  let bad: number | null = null;
  for (let rate = 250; rate <= 64_000; rate *= 2) {
    const s = await run(rate);
    if (s.ok) good = s;
    else {
      bad = rate;
      break;
    }
  }
  let low = good?.rate ?? 0;
  let high = bad ?? low;
  while (bad !== null && high - low > Math.max(25, low * 0.06)) {
    const mid = Math.round((low + high) / 2);
    const s = await run(mid);
    if (s.ok) {
      good = s;
      low = mid;
    } else high = mid;
  }
  return { name, backend, best: good, steps } satisfies Result;
}

function startPeer(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /listening (http:\/\/\S+)/.exec(seen);
      if (match) resolve({ url: match[1]!, child });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`peer exited (${code}):\n${seen}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  await exited;
}

async function stopKiln(server: KilnProcess): Promise<void> {
  server.signal("SIGTERM");
  await server.exited;
}

/** examples/todo with the benchmark account and its 20 tasks, added through the API. */
async function startSeededKiln(data: string, env: NodeJS.ProcessEnv): Promise<KilnProcess> {
  kilnCli(
    [
      "users",
      "add",
      BENCH_EMAIL,
      "--password",
      BENCH_PASSWORD,
      "--app",
      "examples/todo",
      "--data",
      data,
    ],
    env,
  );
  const server = await startKiln({ data, env, keepOutput: false });
  const headers = { authorization: AUTH, "content-type": "application/json" };
  for (const task of BENCH_TASKS) {
    const res = await fetch(`${server.url}/_/api/new_task`, {
      method: "POST",
      headers,
      body: JSON.stringify({ title: task.title }),
    });
    const { id } = (await res.json()) as { id: string };
    if (task.done) {
      await fetch(`${server.url}/_/api/tasks/${encodeURIComponent(id)}`, {
        method: "PUT",
        headers,
        body: JSON.stringify({ done: true }),
      });
    }
  }
  return server;
}

async function pgAdmin(query: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

async function pgReachable(): Promise<boolean> {
  return pgAdmin("SELECT 1").then(
    () => true,
    () => false,
  );
}

async function onSqlite(dir: string): Promise<Result[]> {
  const server = await startSeededKiln(join(dir, "kiln"), { DATABASE_URL: undefined });
  let kiln: Result;
  try {
    kiln = await search("Kiln (authenticateUsers)", "sqlite", `${server.url}/_/api/tasks`, {
      authorization: AUTH,
    });
  } finally {
    await stopKiln(server);
  }
  const peer = await startPeer([
    "bench/peers/fastify-tasks.ts",
    "--db",
    join(dir, "fastify-tasks.sqlite"),
  ]);
  try {
    return [kiln, await search("bare Fastify, no auth", "sqlite", `${peer.url}/tasks`, {})];
  } finally {
    await stopChild(peer.child);
  }
}

async function onPostgres(dir: string): Promise<Result[]> {
  const names = [0, 1].map(() => `kiln_load_${randomBytes(4).toString("hex")}`);
  const urls = names.map((name) => {
    const url = new URL(PG_URL);
    url.pathname = `/${name}`;
    return url.toString();
  });
  for (const name of names) await pgAdmin(`CREATE DATABASE ${name}`);
  try {
    const server = await startSeededKiln(join(dir, "kiln-pg"), { DATABASE_URL: urls[0] });
    let kiln: Result;
    try {
      kiln = await search("Kiln (authenticateUsers)", "postgres", `${server.url}/_/api/tasks`, {
        authorization: AUTH,
      });
    } finally {
      await stopKiln(server);
    }
    const peer = await startPeer(["bench/peers/fastify-tasks-pg.ts", "--url", urls[1]!]);
    try {
      return [
        kiln,
        await search("bare Fastify + pg, no auth", "postgres", `${peer.url}/tasks`, {}),
      ];
    } finally {
      await stopChild(peer.child);
    }
  } finally {
    for (const name of names) await pgAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

const dir = mkdtempSync(join(tmpdir(), "kiln-bench-load-"));
const results: Result[] = [];
try {
  console.log(
    `Largest rate with p99 < ${P99_LIMIT_MS} ms, GET the caller's 20 tasks (${cpus().length} CPUs, ${TRIES} x ${STEP_SECONDS} s per rate, load average ${loadavg()[0]!.toFixed(1)})\n`,
  );
  if (ONLY !== "postgres") results.push(...(await onSqlite(dir)));
  if (ONLY !== "sqlite") {
    if (await pgReachable()) results.push(...(await onPostgres(dir)));
    else console.log("PostgreSQL not reachable: skipped");
  }
  console.log(`\n${"".padEnd(36)}${"backend".padEnd(10)}  max rate   p50     p99`);
  for (const r of results) {
    const b = r.best;
    console.log(
      `${r.name.padEnd(36)}${r.backend.padEnd(10)}${b ? `${String(b.rate).padStart(8)}/s ${String(b.p50).padStart(4)} ms ${String(b.p99).padStart(4)} ms` : "   none passed"}`,
    );
  }
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(
    join(ROOT, "bench/results/load.json"),
    `${JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, stepSeconds: STEP_SECONDS, tries: TRIES, results }, null, 2)}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
