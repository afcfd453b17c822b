/**
 * Scaling out: the To-Do example under load on SQLite and on PostgreSQL, served by one process
 * and by `kiln start --workers 2`, in one run. Two endpoints, each with Basic auth (the
 * credential memory makes that cheap after the first request):
 *   - GET  /_/api/tasks     the caller's 20 tasks (a read: the users row, then the tasks);
 *   - POST /_/api/new_task  {"title": ...} (a write: one INSERT, committed, per request).
 * Each server runs in its own process tree; autocannon drives it from this one over loopback.
 * Prints req/s and latency (p50, p99) per backend, worker count and endpoint; the CPU time one
 * request costs in the Kiln processes (primary and workers) and in the app's PostgreSQL
 * backends (steady on a busy machine, and what capacity planning needs); and how many
 * PostgreSQL connections the app held (pool size per process x processes).
 *
 *   npm run bench:scale     (BENCH_SECONDS=5 after BENCH_WARMUP=2, BENCH_CONNECTIONS=20,
 *                            BENCH_ROUNDS=2: the table shows each figure's best round)
 *
 * Environment: BENCH_WORKERS (default "1,2"), BENCH_BACKENDS (default "sqlite,postgres"),
 * BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test; the run works in a schema
 * of its own and drops it at the end). Without a reachable PostgreSQL the PostgreSQL rows are
 * skipped, with one line saying so.
 *
 * Read the figures with the machine in mind: the load generator, every worker and PostgreSQL
 * share its cores. On 2 cores, a second worker cannot double anything: the figure to watch is
 * that it costs nothing and that PostgreSQL keeps up. See docs/deployment.md, "Scaling out".
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { type Figure, type LoadOptions, measure } from "./lib/load.ts";
import { machine, printTable, writeReport } from "./lib/report.ts";
import { startServer } from "./lib/server-process.ts";
import { BENCH_EMAIL, BENCH_PASSWORD, BENCH_TASKS } from "./peers/todo-seed.ts";

const root = join(import.meta.dirname, "..");
const kilnBin = join(root, "packages/kiln/bin/kiln.js");
const todo = join(root, "examples/todo");
const settings = {
  seconds: Number(process.env.BENCH_SECONDS ?? 5),
  warmupSeconds: Number(process.env.BENCH_WARMUP ?? 2),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 20),
  workers: (process.env.BENCH_WORKERS ?? "1,2").split(",").map(Number),
  backends: (process.env.BENCH_BACKENDS ?? "sqlite,postgres").split(","),
  rounds: Number(process.env.BENCH_ROUNDS ?? 2),
};
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
// The writer is another account, so the reader's list stays at 20 tasks however many are added.
const WRITER = "writer@example.com";

const basic = (email: string) =>
  `Basic ${Buffer.from(`${email}:${BENCH_PASSWORD}`).toString("base64")}`;

interface Backend {
  name: "sqlite" | "postgres";
  env: Record<string, string>;
  /** Process ids of the app's PostgreSQL connections (server backends); none for SQLite. */
  backendPids(): Promise<number[]>;
  drop(): Promise<void>;
}

interface Row {
  backend: string;
  workers: number;
  endpoint: string;
  figure: Figure;
  /** CPU µs per request: the Kiln processes, and the app's PostgreSQL backends. */
  kilnCpuUs: number | null;
  pgCpuUs: number | null;
  pgConnections: number | null;
}

/** CPU time (user + system, all threads) of a process, in ms, from /proc; null if gone. */
function cpuMs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : null; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** A process and its descendants (the primary and its workers), from /proc. */
function processTree(pid: number): number[] {
  const found = [pid];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      for (const child of children ? children.split(" ") : []) {
        found.push(...processTree(Number(child)));
      }
    }
  } catch {}
  return found;
}

/** CPU ms of each process now. */
function cpuOf(pids: number[]): Map<number, number> {
  const used = new Map<number, number>();
  for (const pid of pids) {
    const ms = cpuMs(pid);
    if (ms !== null) used.set(pid, ms);
  }
  return used;
}

/** CPU ms used between two snapshots (a process that appeared meanwhile counts from 0). */
function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

async function adminQuery(text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** A fresh place for the app's data: a temp folder, and for PostgreSQL a schema of its own. */
async function openBackend(name: string): Promise<Backend | null> {
  if (name === "sqlite") {
    return { name, env: {}, backendPids: async () => [], drop: async () => {} };
  }
  const schema = `kiln_bench_${randomBytes(4).toString("hex")}`;
  try {
    await adminQuery(`create schema ${schema}`);
  } catch (error) {
    console.log(`PostgreSQL skipped: ${PG_URL} unreachable (${(error as Error).message})`);
    return null;
  }
  // application_name tells this app's connections apart from everything else on the server.
  const url = new URL(PG_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);
  url.searchParams.set("application_name", schema);
  return {
    name: "postgres",
    env: { DATABASE_URL: url.toString() },
    backendPids: async () =>
      (
        await adminQuery("select pid from pg_stat_activity where application_name = $1", [schema])
      ).rows.map((row) => Number(row.pid)),
    drop: async () => {
      await adminQuery(`drop schema if exists ${schema} cascade`);
    },
  };
}

function kilnCli(args: string[], env: Record<string, string>): void {
  const run = spawnSync(process.execPath, [kilnBin, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`kiln ${args.join(" ")} failed: ${run.stderr}`);
}

function startKiln(data: string, backend: Backend, workers: number) {
  return startServer({
    args: [
      kilnBin,
      "start",
      todo,
      "--port",
      "0",
      "--data",
      data,
      ...(workers > 1 ? ["--workers", String(workers)] : []),
    ],
    ready: /is serving at (http:\/\/\S+?)\/_\/api/,
    cwd: root,
    env: { ...backend.env, LOG_LEVEL: "info" },
  });
}

/** Two accounts, and the reader's 20 tasks added through the API. */
async function seed(data: string, backend: Backend): Promise<void> {
  for (const email of [BENCH_EMAIL, WRITER]) {
    kilnCli(
      ["users", "add", email, "--password", BENCH_PASSWORD, "--app", todo, "--data", data],
      backend.env,
    );
  }
  const server = await startKiln(data, backend, 1);
  try {
    const headers = { authorization: basic(BENCH_EMAIL), "content-type": "application/json" };
    for (const task of BENCH_TASKS) {
      const res = await fetch(`${server.url}/_/api/new_task`, {
        method: "POST",
        headers,
        body: JSON.stringify({ title: task.title }),
      });
      if (res.status !== 200) throw new Error(`seeding: ${res.status} ${await res.text()}`);
    }
  } finally {
    await server.stop();
  }
}

async function run(backend: Backend, data: string, workers: number): Promise<Row[]> {
  const server = await startKiln(data, backend, workers);
  const rows: Row[] = [];
  try {
    const list = `${server.url}/_/api/tasks`;
    const check = await fetch(list, { headers: { authorization: basic(BENCH_EMAIL) } });
    const tasks = (await check.json()) as unknown[];
    if (check.status !== 200 || tasks.length !== BENCH_TASKS.length) {
      throw new Error(`expected 20 tasks, got ${check.status} ${JSON.stringify(tasks)}`);
    }
    const loads: { endpoint: string; options: LoadOptions }[] = [
      {
        endpoint: "GET /_/api/tasks (20)",
        options: { url: list, headers: { authorization: basic(BENCH_EMAIL) } },
      },
      {
        endpoint: "POST /_/api/new_task",
        options: {
          url: `${server.url}/_/api/new_task`,
          method: "POST",
          headers: { authorization: basic(WRITER), "content-type": "application/json" },
          body: JSON.stringify({ title: "a task added under load" }),
        },
      },
    ];
    for (const { endpoint, options } of loads) {
      const load = { ...options, connections: settings.connections, warmupSeconds: 0 };
      await measure({ ...load, seconds: settings.warmupSeconds }); // warm-up
      const kilnPids = processTree(server.child.pid!);
      const pgBefore = cpuOf(await backend.backendPids());
      const kilnBefore = cpuOf(kilnPids);
      const figure = await measure({ ...load, seconds: settings.seconds });
      const kilnAfter = cpuOf(kilnPids);
      const pgPids = await backend.backendPids();
      const pgAfter = cpuOf(pgPids);
      const perRequest = (ms: number) => Math.round((ms * 1000) / figure.requests);
      const row: Row = {
        backend: backend.name,
        workers,
        endpoint,
        figure,
        kilnCpuUs: perRequest(cpuBetween(kilnBefore, kilnAfter)),
        pgCpuUs: backend.name === "postgres" ? perRequest(cpuBetween(pgBefore, pgAfter)) : null,
        pgConnections: backend.name === "postgres" ? pgPids.length : null,
      };
      rows.push(row);
      console.log(
        `${backend.name.padEnd(8)} workers ${workers}  ${endpoint.padEnd(22)} ${String(figure.requestsPerSecond).padStart(6)} req/s  p50 ${figure.p50Ms} ms  p99 ${figure.p99Ms} ms  CPU/req: Kiln ${row.kilnCpuUs} µs${row.pgCpuUs === null ? "" : `, PostgreSQL ${row.pgCpuUs} µs (${row.pgConnections} connections)`}`,
      );
    }
  } finally {
    await server.stop();
  }
  return rows;
}

const { cores, cpu } = machine();
console.log(
  `To-Do example, Basic auth; ${settings.warmupSeconds} s warm-up + ${settings.seconds} s per run, ` +
    `${settings.connections} connections; ${cores} cores (${cpu}); load generator on the same machine\n`,
);
const rows: Row[] = [];
const opened: { backend: Backend; data: string }[] = [];
try {
  for (const name of settings.backends) {
    const backend = await openBackend(name);
    if (!backend) continue;
    const data = mkdtempSync(join(tmpdir(), `kiln-bench-scale-${name}-`));
    opened.push({ backend, data });
    await seed(data, backend);
  }
  for (let round = 1; round <= settings.rounds; round++) {
    if (settings.rounds > 1) console.log(`round ${round}`);
    for (const { backend, data } of opened) {
      for (const workers of settings.workers) rows.push(...(await run(backend, data, workers)));
    }
  }
} finally {
  for (const { backend, data } of opened) {
    await backend.drop();
    rmSync(data, { recursive: true, force: true });
  }
}

/**
 * Per backend, worker count and endpoint: the round with the most req/s (the one least
 * disturbed by other work on a shared machine), with the least CPU per request of any round.
 */
function best(all: Row[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const row of all) {
    const key = `${row.backend} ${row.workers} ${row.endpoint}`;
    const seen = byKey.get(key);
    const min = (a: number | null, b: number | null) =>
      a === null ? b : b === null ? a : Math.min(a, b);
    const faster = !seen || row.figure.requestsPerSecond > seen.figure.requestsPerSecond;
    const kept = faster ? row : seen;
    byKey.set(key, {
      ...kept,
      kilnCpuUs: min(row.kilnCpuUs, seen?.kilnCpuUs ?? null),
      pgCpuUs: min(row.pgCpuUs, seen?.pgCpuUs ?? null),
    });
  }
  return [...byKey.values()];
}

console.log(settings.rounds > 1 ? `\nbest of ${settings.rounds} rounds:` : "");
printTable([
  [
    "backend",
    "workers",
    "endpoint",
    "req/s",
    "p50 ms",
    "p99 ms",
    "Kiln µs/req",
    "PG µs/req",
    "PG conns",
  ],
  ...best(rows).map((r) => [
    r.backend,
    r.workers,
    r.endpoint,
    r.figure.requestsPerSecond,
    r.figure.p50Ms,
    r.figure.p99Ms,
    r.kilnCpuUs ?? "-",
    r.pgCpuUs ?? "-",
    r.pgConnections ?? "-",
  ]),
]);
console.log(
  "\nCPU per request is user + system time of the server processes divided by requests served;\n" +
    "one core serves about 1,000,000 / (Kiln µs/req) requests a second, and the database\n" +
    "about 1,000,000 / (PG µs/req) per core it has (docs/deployment.md: Scaling out).",
);
const file = writeReport("scale", { settings, rows, best: best(rows) });
console.log(`report: ${file}`);
