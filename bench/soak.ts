/**
 * Soak: mixed To-Do traffic at a steady rate against examples/todo on `kiln start`, watching
 * the server for leaks and drift.
 *
 *   npm run bench:soak                  10 minutes
 *   npm run bench:soak -- --short       60 seconds
 *   npm run bench:soak -- --pg          on PostgreSQL (a throwaway database) instead of SQLite
 *   npm run bench:soak -- --rate 300    operations per second (default 150, about 220 requests)
 *   npm run bench:soak -- --trace-gc    also report the server's JS heap after each full GC
 *                                       (RSS alone mixes the heap with malloc's arenas)
 *
 * Operations: 75% reads of the caller's task list (20 tasks), 24% writes (add a task, mark it
 * done, delete it: three requests, and the table stays the same size), 1% authentication
 * failures (unknown emails, and wrong passwords for real accounts from many loopback
 * addresses, so the guessing defence counts them without ever throttling: each answer is a
 * 401). Requests are sent open-loop on a fixed schedule over a pool of keep-alive connections,
 * so a stalling server shows up as latency rather than as a lower rate.
 *
 * Passes when: no unexpected answer (every read and write a 2xx, every failure a 401, no
 * connection error); p99 of the last third no worse than 1.5x the first third's + 5 ms (the
 * machine's load average is printed beside it: other work shows up there first); server CPU
 * per request in the last third no more than 1.2x the first third's (drift that other work on
 * the machine cannot fake); peak RSS of the last third less than 10% above the first
 * third's; non-socket descriptors flat, and none left once the clients disconnect. Exits 1
 * otherwise. Writes bench/results/soak*.json.
 */
import { randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import {
  basicAuth,
  kilnCli,
  ROOT,
  startKiln,
} from "../packages/kiln/test/reliability/kiln-process.ts";

const argv = process.argv.slice(2);
const SHORT = argv.includes("--short");
const ON_PG = argv.includes("--pg");
const TRACE_GC = argv.includes("--trace-gc");
const RATE = Number(argv[argv.indexOf("--rate") + 1]) || 150;
const DURATION_S = SHORT ? 60 : 600;
const WARMUP_S = SHORT ? 15 : 60;
const SAMPLE_S = 5;
const USERS = 10;
const PASSWORD = "soak-password-1";
const PG_URL = process.env.KILN_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

type Kind = "read" | "write" | "authFailure";

let lastHeapAfterGc = 0;
let partialLine = "";
/** Reads `--trace-gc` lines: "Mark-Compact 30.1 (45.2) -> 25.3 (46.0) MB, ...". */
function heapAfterFullGc(text: string): void {
  const lines = (partialLine + text).split("\n");
  partialLine = lines.pop() ?? "";
  for (const line of lines) {
    const match = /Mark-Compact[^>]*-> ([\d.]+) \(/.exec(line);
    if (match) lastHeapAfterGc = Number(match[1]);
  }
}

interface Window {
  atS: number;
  requests: number;
  unexpected: number;
  p50: number;
  p99: number;
  rssMiB: number;
  /** With --trace-gc: the JS heap after the latest full (mark-compact) GC, in MB. */
  heapAfterGcMB?: number;
  fds: number;
  sockets: number;
  /** Server CPU time (user + system) per request in this window: noise-robust drift check. */
  cpuMsPerRequest: number;
  /** The machine's 1-minute load average: other work on the machine shows up in p99. */
  load: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
/** Auth failures come from many loopback addresses, each on its own short connection. */
const oneShot = new http.Agent({ keepAlive: false });

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** Requests retried after a keep-alive race (see send); reported, never hidden. */
let keepAliveRetries = 0;

/**
 * One request. The only retry is the one Node's documentation prescribes for keep-alive
 * clients (`request.reusedSocket`): a request written on a pooled connection that the server
 * closed as idle in that same instant is reset before any answer, and is sent again once.
 */
function send(
  base: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
  localAddress?: string,
  retried = false,
): Promise<Answer> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers:
          body === undefined ? headers : { ...headers, "content-length": Buffer.byteLength(body) },
        agent: localAddress ? oneShot : agent,
        localAddress,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            ms: performance.now() - start,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && error.code === "ECONNRESET") {
        keepAliveRetries++;
        resolve(send(base, method, path, headers, body, localAddress, true));
      } else reject(error);
    });
    req.end(body);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * The server's resident memory and open descriptors: `fds` are files, pipes and the like,
 * `sockets` its connections (which come and go with the clients' keep-alive pool).
 */
function processStats(pid: number): {
  rssMiB: number;
  fds: number;
  sockets: number;
  cpuMs: number;
} {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 a second).
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuMs = (Number(fields[11]) + Number(fields[12])) * 10;
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) sockets++;
      else fds++;
    } catch {
      // closed while we looked
    }
  }
  return { rssMiB: Math.round((rssKiB / 1024) * 10) / 10, fds, sockets, cpuMs };
}

/**
 * Client connections the server process still holds on its HTTP port: its sockets whose
 * inode appears in /proc/net/tcp{,6} as an established connection on that local port (the
 * database pool's sockets, bounded by the pool size, are not counted).
 */
function clientConnections(pid: number, port: number): number {
  const established = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const localPort = Number.parseInt(cols[1]?.split(":").pop() ?? "", 16);
      if (localPort === port && cols[3] === "01") established.add(cols[9]!);
    }
  }
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode && established.has(inode)) count++;
    } catch {
      // closed while we looked
    }
  }
  return count;
}

/** Stats once every client has disconnected: what the server holds for itself. */
async function quietStats(pid: number, port: number) {
  agent.destroy();
  await new Promise((settle) => setTimeout(settle, 1000));
  return { ...processStats(pid), clients: clientConnections(pid, port) };
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

async function main(): Promise<number> {
  const data = mkdtempSync(join(tmpdir(), "kiln-soak-"));
  const pgName = `kiln_soak_${randomBytes(4).toString("hex")}`;
  const env: NodeJS.ProcessEnv = { DATABASE_URL: undefined, LOG_LEVEL: "warn" };
  if (ON_PG) {
    await pgAdmin(`CREATE DATABASE ${pgName}`);
    const url = new URL(PG_URL);
    url.pathname = `/${pgName}`;
    env.DATABASE_URL = url.toString();
  }
  const emails = Array.from({ length: USERS }, (_, i) => `soak-${i}@example.com`);
  for (const email of emails) {
    kilnCli(
      ["users", "add", email, "--password", PASSWORD, "--app", "examples/todo", "--data", data],
      env,
    );
  }
  const server = await startKiln({
    data,
    env,
    keepOutput: false,
    ...(TRACE_GC ? { nodeArgs: ["--trace-gc"], onOutput: heapAfterFullGc } : {}),
  });
  const base = new URL(server.url);
  const pid = server.pid; // kiln start serves from the process it starts (no workers)
  const auth = emails.map((email) => basicAuth(email, PASSWORD));
  const json = { "content-type": "application/json" };

  // Each user starts with 20 tasks, so a read returns a realistic list.
  for (const authorization of auth) {
    for (let i = 0; i < 20; i++) {
      await send(
        base,
        "POST",
        "/_/api/new_task",
        { authorization, ...json },
        JSON.stringify({ title: `seed ${i}` }),
      );
    }
  }

  let latencies: number[] = [];
  let unexpected = 0;
  let unexpectedTotal = 0;
  const unexpectedSamples: string[] = [];
  let counter = 0;
  const counts: Record<Kind, number> = { read: 0, write: 0, authFailure: 0 };

  const expect = (kind: Kind, answer: Answer, wanted: (status: number) => boolean) => {
    latencies.push(answer.ms);
    if (!wanted(answer.status)) {
      unexpected++;
      if (unexpectedSamples.length < 10) {
        unexpectedSamples.push(`${kind}: ${answer.status} ${answer.body.slice(0, 200)}`);
      }
    }
  };
  const failed = (kind: Kind, error: unknown) => {
    unexpected++;
    if (unexpectedSamples.length < 10) unexpectedSamples.push(`${kind}: ${String(error)}`);
  };
  const ok = (status: number) => status >= 200 && status < 300;

  async function read(n: number) {
    const answer = await send(base, "GET", "/_/api/tasks", { authorization: auth[n % USERS]! });
    expect("read", answer, ok);
  }
  async function write(n: number) {
    const authorization = auth[n % USERS]!;
    const created = await send(
      base,
      "POST",
      "/_/api/new_task",
      { authorization, ...json },
      JSON.stringify({ title: `soak ${n} ✓` }),
    );
    expect("write", created, ok);
    if (!ok(created.status)) return;
    const path = `/_/api/tasks/${encodeURIComponent((JSON.parse(created.body) as { id: string }).id)}`;
    expect(
      "write",
      await send(base, "PUT", path, { authorization, ...json }, JSON.stringify({ done: true })),
      ok,
    );
    expect("write", await send(base, "DELETE", path, { authorization }), ok);
  }
  async function authFailure(n: number) {
    const unknown = n % 2 === 0;
    const email = unknown ? `ghost-${n}@example.com` : emails[n % USERS]!;
    // 127.0.0.2 .. 127.0.0.251: the guessing defence sees many addresses, each failing rarely.
    const from = `127.0.0.${2 + (Math.floor(n / 2) % 250)}`;
    const answer = await send(
      base,
      "GET",
      "/_/api/tasks",
      { authorization: basicAuth(email, "wrong-password") },
      undefined,
      from,
    );
    expect("authFailure", answer, (status) => status === 401);
  }

  /** One scheduled request: the mix is decided by a counter, so it is the same every run. */
  function fire() {
    const n = counter++;
    const slot = n % 100;
    const kind: Kind = slot === 0 ? "authFailure" : slot % 4 === 0 ? "write" : "read";
    counts[kind]++;
    const run = kind === "read" ? read(n) : kind === "write" ? write(n) : authFailure(n);
    run.catch((error) => failed(kind, error));
  }

  console.log(
    `Soak: ${DURATION_S} s at ${RATE} operations/s (${USERS} users, ${ON_PG ? "PostgreSQL" : "SQLite"}), server pid ${pid}`,
  );
  const port = Number(base.port);
  const baseline = await quietStats(pid, port);
  console.log(
    "   t(s)   req  unexpected  p50(ms)  p99(ms)  RSS(MiB)  fds  sockets  CPU ms/req  load",
  );
  let lastCpuMs = processStats(pid).cpuMs;
  const windows: Window[] = [];
  const started = performance.now();
  let sent = 0;
  const ticker = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * RATE);
    while (sent < due) {
      fire();
      sent++;
    }
  }, 5);
  await new Promise<void>((done) => {
    const sampler = setInterval(() => {
      const atS = Math.round((performance.now() - started) / 1000);
      const sorted = latencies.sort((a, b) => a - b);
      const { cpuMs, ...stats } = processStats(pid);
      const w: Window = {
        atS,
        requests: sorted.length,
        unexpected,
        p50: Math.round(percentile(sorted, 50) * 10) / 10,
        p99: Math.round(percentile(sorted, 99) * 10) / 10,
        ...stats,
        ...(TRACE_GC ? { heapAfterGcMB: lastHeapAfterGc } : {}),
        cpuMsPerRequest: Math.round(((cpuMs - lastCpuMs) / Math.max(1, sorted.length)) * 100) / 100,
        load: Math.round(loadavg()[0]! * 10) / 10,
      };
      lastCpuMs = cpuMs;
      windows.push(w);
      unexpectedTotal += unexpected;
      latencies = [];
      unexpected = 0;
      if (!SHORT && atS % 30 !== 0 && atS < DURATION_S) return;
      console.log(
        `${String(atS).padStart(7)} ${String(w.requests).padStart(5)} ${String(w.unexpected).padStart(11)} ${String(w.p50).padStart(8)} ${String(w.p99).padStart(8)} ${String(w.rssMiB).padStart(9)} ${String(w.fds).padStart(4)} ${String(w.sockets).padStart(8)} ${String(w.cpuMsPerRequest).padStart(11)} ${String(w.load).padStart(5)}${TRACE_GC ? `  heap ${w.heapAfterGcMB} MB` : ""}`,
      );
      if (atS >= DURATION_S) {
        clearInterval(sampler);
        clearInterval(ticker);
        done();
      }
    }, SAMPLE_S * 1000);
  });
  await new Promise((settle) => setTimeout(settle, 2000)); // let the last requests finish
  unexpectedTotal += unexpected;
  const end = await quietStats(pid, port);

  server.signal("SIGTERM");
  const exit = await server.exited;
  rmSync(data, { recursive: true, force: true });
  if (ON_PG) await pgAdmin(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`);

  // Verdict.
  const measured = windows.filter((w) => w.atS > WARMUP_S);
  const third = Math.max(1, Math.floor(measured.length / 3));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const firstP99 = median(measured.slice(0, third).map((w) => w.p99));
  const lastP99 = median(measured.slice(-third).map((w) => w.p99));
  const warm = windows.find((w) => w.atS >= WARMUP_S) ?? windows[0]!;
  // RSS swings by tens of MiB with no trend: each failed login's scrypt allocates 32 MiB
  // outside the JS heap, on a thread-pool thread, and malloc returns it to the system when
  // it pleases. A leak lifts the whole band, so the band's top is compared.
  const firstRss = Math.max(...measured.slice(0, third).map((w) => w.rssMiB));
  const endRss = Math.max(...measured.slice(-third).map((w) => w.rssMiB));
  const rssGrowth = (endRss - firstRss) / firstRss;
  const firstCpu = median(measured.slice(0, third).map((w) => w.cpuMsPerRequest));
  const lastCpu = median(measured.slice(-third).map((w) => w.cpuMsPerRequest));
  const fdDrift = Math.max(...measured.map((w) => Math.abs(w.fds - warm.fds)));
  const leftOver = end.fds - baseline.fds + end.clients;
  const checks = [
    { name: "no unexpected answers", ok: unexpectedTotal === 0, figure: `${unexpectedTotal}` },
    {
      name: "p99 stable (last third <= 1.5x first third + 5 ms)",
      ok: lastP99 <= firstP99 * 1.5 + 5,
      figure: `${firstP99} ms -> ${lastP99} ms`,
    },
    {
      name: "server CPU per request stable (last third <= 1.2x first third)",
      ok: lastCpu <= firstCpu * 1.2,
      figure: `${firstCpu} ms -> ${lastCpu} ms`,
    },
    {
      name: "RSS growth after warm-up < 10% (peak of the last third vs the first)",
      ok: rssGrowth < 0.1,
      figure: `${firstRss} MiB -> ${endRss} MiB (${(rssGrowth * 100).toFixed(1)}%)`,
    },
    {
      name: "open file descriptors flat (within 2 during the run; none left once clients go)",
      ok: fdDrift <= 2 && leftOver <= 0,
      figure: `${warm.fds} non-socket (max drift ${fdDrift}); before the run ${baseline.fds}, after ${end.fds}, client connections left ${end.clients}`,
    },
    { name: "SIGTERM exits 0", ok: exit.code === 0, figure: `${exit.code ?? exit.signal}` },
  ];
  const total = counts.read + counts.write + counts.authFailure;
  console.log(
    `\n${total} scheduled (${counts.read} reads, ${counts.write} write cycles of 3 requests, ${counts.authFailure} auth failures)`,
  );
  for (const c of checks) console.log(`${c.ok ? "PASS" : "FAIL"}  ${c.name}: ${c.figure}`);
  console.log(`keep-alive races retried once (see send): ${keepAliveRetries}`);
  if (TRACE_GC) {
    const heap = (ws: Window[]) => Math.max(...ws.map((w) => w.heapAfterGcMB ?? 0));
    console.log(
      `JS heap after full GC (peak of the first third -> last third): ${heap(measured.slice(0, third))} MB -> ${heap(measured.slice(-third))} MB`,
    );
  }
  for (const sample of unexpectedSamples) console.log(`  unexpected: ${sample}`);
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(
    join(ROOT, `bench/results/soak${SHORT ? "-short" : ""}${ON_PG ? "-pg" : ""}.json`),
    `${JSON.stringify({ date: new Date().toISOString(), durationS: DURATION_S, rate: RATE, backend: ON_PG ? "postgres" : "sqlite", checks, windows }, null, 2)}\n`,
  );
  return checks.every((c) => c.ok) ? 0 : 1;
}

process.exit(await main());
