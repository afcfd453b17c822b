/**
 * Authenticated `GET /_/api/tasks` (20 tasks) of examples/todo on `kiln start`, against the
 * same list hand-wired on Express + better-sqlite3 + bcrypt, and a bare Fastify route serving
 * the same 20 rows with no authentication. Each server runs in its own process; autocannon
 * drives them one after the other from this one.
 *
 *   npm run bench:auth                  (BENCH_SECONDS=5, BENCH_ROUNDS=4, BENCH_CONNECTIONS=20)
 *   BENCH_ROUNDS=3 npm run bench:auth   (Basic, token and Fastify take turns 3 times; the best of each)
 *   BENCH_TOGETHER=1 npm run bench:auth (Kiln with Basic and Fastify loaded at once: the
 *                                        steadiest ratio on a shared machine)
 *   BENCH_PROFILE=1 BENCH_ONLY=kiln npm run bench:auth
 *                                       (a CPU profile of Kiln in bench/results/profiles;
 *                                        summarise it with bench/profile-summary.ts)
 *
 * Goals (issue 4): Kiln >= 100x the hand-wired stack; Kiln >= 0.6x bare Fastify.
 * Goals (issue 16): a request with an API token (Bearer) costs no more server CPU than one with
 * remembered Basic credentials (within 10%), and is >= 100x the hand-wired stack too.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { median } from "./lib/report.ts";
import { BENCH_EMAIL, BENCH_PASSWORD, BENCH_TASKS } from "./peers/todo-seed.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
/** Rounds of Basic, token and bare Fastify, taking turns (BENCH_ROUNDS, default 4). */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 4));
/**
 * BENCH_TOGETHER=1: Kiln (Basic) and bare Fastify are loaded at the same time, so whatever else
 * the machine does weighs on both alike and a round's ratio barely moves (see bench/hello.ts).
 */
const TOGETHER = process.env.BENCH_TOGETHER === "1";
const root = new URL("..", import.meta.url).pathname;
const kilnBin = join(root, "packages/kiln/bin/kiln.js");
const profileDir = process.env.BENCH_PROFILE ? join(root, "bench/results/profiles") : null;
const only = process.env.BENCH_ONLY; // "kiln": measure Kiln alone (with BENCH_PROFILE)
const basic = `Basic ${Buffer.from(`${BENCH_EMAIL}:${BENCH_PASSWORD}`).toString("base64")}`;

interface Figure {
  name: string;
  requestsPerSecond: number;
  /** Server CPU time (all threads, user + system) per request: steady even on a busy machine. */
  cpuMicrosPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

/**
 * Starts a server process and resolves with its URL, read from the stream named (`kiln start`
 * announces itself on stderr, the peers on stdout). The other stream goes to /dev/null: Kiln
 * logs a line per request to stdout, and a pipe this busy process drains late would make the
 * server wait on it.
 */
function startServer(args: string[], pattern: RegExp, announcedOn: "stdout" | "stderr") {
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: [
      "ignore",
      announcedOn === "stdout" ? "pipe" : "ignore",
      announcedOn === "stderr" ? "pipe" : "ignore",
    ],
  });
  return new Promise<{ url: string; child: ChildProcess }>((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (!match) return;
      // From here on the output (a log line per request) is drained unread, so reading it
      // costs this process (which also runs autocannon) nothing.
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.stdout?.resume();
      child.stderr?.resume();
      resolve({ url: match[1]!, child });
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`server exited (${code}):\n${seen}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  await exited;
}

/** CPU time used so far by a process, all its threads, in µs (Linux /proc; 0 elsewhere). */
function cpuMicros(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

async function measure(
  name: string,
  url: string,
  headers: Record<string, string>,
  server: ChildProcess,
  connections = CONNECTIONS,
) {
  // Warm up (and check the answer) before measuring.
  const check = await fetch(url, { headers });
  const body = (await check.json()) as unknown[];
  if (check.status !== 200 || body.length !== BENCH_TASKS.length) {
    throw new Error(
      `${name}: expected 200 and 20 tasks, got ${check.status} ${JSON.stringify(body)}`,
    );
  }
  await autocannon({ url, headers, connections, duration: 1 });
  const cpuBefore = cpuMicros(server.pid);
  const result = await autocannon({ url, headers, connections, duration: SECONDS });
  const cpu = cpuMicros(server.pid) - cpuBefore;
  const figure: Figure = {
    name,
    requestsPerSecond: Math.round(result.requests.average),
    cpuMicrosPerRequest: Math.round(cpu / Math.max(result.requests.total, 1)),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
  };
  console.log(
    `${name.padEnd(36)} ${String(figure.requestsPerSecond).padStart(7)} req/s  ${String(figure.cpuMicrosPerRequest).padStart(7)} µs CPU/req  p50 ${figure.p50Ms} ms  p99 ${figure.p99Ms} ms${figure.non2xx ? `  (${figure.non2xx} non-2xx!)` : ""}`,
  );
  return figure;
}

/** Runs the kiln CLI on examples/todo with this data folder; its stdout. */
function kilnCli(args: string[], data: string): string {
  const run = spawnSync(
    process.execPath,
    [kilnBin, ...args, "--app", "examples/todo", "--data", data],
    { cwd: root, encoding: "utf8" },
  );
  if (run.status !== 0) throw new Error(`kiln ${args.join(" ")} failed: ${run.stderr}`);
  return run.stdout.trim();
}

/** Makes the bench user, a token and the 20 tasks; starts `kiln start` on them. */
async function startKiln(
  data: string,
): Promise<{ url: string; child: ChildProcess; token: string }> {
  kilnCli(["users", "add", BENCH_EMAIL, "--password", BENCH_PASSWORD], data);
  const token = kilnCli(["tokens", "add", BENCH_EMAIL, "--name", "bench"], data);
  const { url, child } = await startServer(
    [
      ...(profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []),
      kilnBin,
      "start",
      "examples/todo",
      "--port",
      "0",
      "--data",
      data,
    ],
    /serving at (http:\/\/\S+?)\/_\/api/,
    "stderr",
  );
  const headers = { authorization: basic, "content-type": "application/json" };
  for (const task of BENCH_TASKS) {
    const res = await fetch(`${url}/_/api/new_task`, {
      method: "POST",
      headers,
      body: JSON.stringify({ title: task.title }),
    });
    const { id } = (await res.json()) as { id: string };
    if (task.done) {
      await fetch(`${url}/_/api/tasks/${encodeURIComponent(id)}`, {
        method: "PUT",
        headers,
        body: JSON.stringify({ done: true }),
      });
    }
  }
  return { url, child, token };
}

/** Each figure's quickest round by CPU per request. */
const best = (list: Figure[]) =>
  list.reduce((a, b) => (b.cpuMicrosPerRequest < a.cpuMicrosPerRequest ? b : a));

/**
 * Kiln with Basic, Kiln with a token and (unless BENCH_ONLY=kiln) bare Fastify, each ROUNDS
 * times. Both servers stay up and take turns, the order rotating each round, so that no side is
 * always measured on a warmer machine or just after another side's load: on a shared machine,
 * other work only ever adds to a round's figure, and each side keeps its quickest round.
 */
async function measureRounds(data: string) {
  const kilnServer = await startKiln(join(data, "kiln"));
  const fastify = only === "kiln" ? null : await startPeer("fastify-tasks.ts", data);
  try {
    const tasks = `${kilnServer.url}/_/api/tasks`;
    const sides = [
      (connections?: number) =>
        measure(
          "Kiln (authenticateUsers, Basic)",
          tasks,
          { authorization: basic },
          kilnServer.child,
          connections,
        ),
      (connections?: number) =>
        measure(
          "Kiln (authenticateUsers, Bearer token)",
          tasks,
          { authorization: `Bearer ${kilnServer.token}` },
          kilnServer.child,
          connections,
        ),
      ...(fastify
        ? [
            (connections?: number) =>
              measure(
                "bare Fastify, no auth",
                `${fastify.url}/tasks`,
                {},
                fastify.child,
                connections,
              ),
          ]
        : []),
    ];
    const figures: Figure[][] = sides.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      if (TOGETHER && fastify) {
        // Kiln with Basic and Fastify at once, half the connections each; then the token alone.
        const half = Math.max(1, Math.floor(CONNECTIONS / 2));
        const [b, f] = await Promise.all([sides[0]!(half), sides[2]!(half)]);
        figures[0]!.push(b);
        figures[2]!.push(f);
        figures[1]!.push(await sides[1]!());
        continue;
      }
      for (let k = 0; k < sides.length; k++) {
        const i = (k + round) % sides.length;
        figures[i]!.push(await sides[i]!());
      }
    }
    // Fastify / Kiln with Basic, round by round: each pair ran minutes apart at most.
    const roundRatios = fastify
      ? figures[0]!.map((b, i) => figures[2]![i]!.cpuMicrosPerRequest / b.cpuMicrosPerRequest)
      : [];
    return {
      basic: best(figures[0]!),
      token: best(figures[1]!),
      fastify: fastify ? best(figures[2]!) : null,
      roundRatios,
    };
  } finally {
    await stop(kilnServer.child);
    if (fastify) await stop(fastify.child);
  }
}

function startPeer(file: string, data: string) {
  return startServer(
    ["--import", "tsx", join(root, "bench/peers", file), "--db", join(data, `${file}.sqlite`)],
    /listening (http:\/\/\S+)/,
    "stdout",
  );
}

async function peer(name: string, file: string, data: string, auth: boolean): Promise<Figure> {
  const { url, child } = await startPeer(file, data);
  try {
    return await measure(name, `${url}/tasks`, auth ? { authorization: basic } : {}, child);
  } finally {
    await stop(child);
  }
}

const data = mkdtempSync(join(tmpdir(), "kiln-bench-auth-"));
try {
  console.log(`GET the caller's 20 tasks: ${CONNECTIONS} connections, ${SECONDS} s each\n`);
  const figures = await measureRounds(data);
  const tokenVsBasic = figures.token.cpuMicrosPerRequest / figures.basic.cpuMicrosPerRequest;
  console.log(
    `\nBearer token / remembered Basic, CPU per request: ${tokenVsBasic.toFixed(3)} (goal <= 1.10)`,
  );
  if (figures.fastify) {
    await compare(figures.basic, figures.token, figures.fastify, tokenVsBasic, figures.roundRatios);
  }
} finally {
  rmSync(data, { recursive: true, force: true });
}

async function compare(
  kilnFigure: Figure,
  tokenFigure: Figure,
  fastify: Figure,
  tokenVsBasic: number,
  roundRatios: number[],
) {
  // Once, last: bcrypt per request makes it ~1000x slower, so its rounds would not change much.
  const express = await peer("Express + better-sqlite3 + bcrypt", "express-todo.ts", data, true);
  const vsExpress = kilnFigure.requestsPerSecond / Math.max(express.requestsPerSecond, 1);
  const vsFastify = kilnFigure.requestsPerSecond / fastify.requestsPerSecond;
  // The same ratios from CPU per request: what each server could do on an idle core.
  const cpuVsExpress = express.cpuMicrosPerRequest / kilnFigure.cpuMicrosPerRequest;
  const cpuVsFastify = fastify.cpuMicrosPerRequest / kilnFigure.cpuMicrosPerRequest;
  console.log(
    `\nKiln / hand-wired Express+bcrypt: ${vsExpress.toFixed(0)}x req/s, ${cpuVsExpress.toFixed(0)}x by CPU per request (goal >= 100x)`,
  );
  console.log(
    `Kiln with a token / hand-wired Express+bcrypt: ${(tokenFigure.requestsPerSecond / Math.max(express.requestsPerSecond, 1)).toFixed(0)}x req/s, ${(express.cpuMicrosPerRequest / tokenFigure.cpuMicrosPerRequest).toFixed(0)}x by CPU per request (goal >= 100x)`,
  );
  const medianRatio = median(roundRatios) ?? 0;
  console.log(
    `Kiln / bare Fastify without auth: ${vsFastify.toFixed(2)}x req/s, by CPU per request ${cpuVsFastify.toFixed(2)}x (least of each side), median of the rounds ${medianRatio.toFixed(2)}x [${roundRatios.map((r) => r.toFixed(2)).join(" ")}] (goal >= 0.6x: ${medianRatio >= 0.6 ? "met" : "NOT met"})`,
  );
  mkdirSync(join(root, "bench/results"), { recursive: true });
  writeFileSync(
    join(root, "bench/results/auth.json"),
    `${JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, figures: [kilnFigure, tokenFigure, express, fastify], tokenVsBasic, vsExpress, vsFastify, cpuVsExpress, cpuVsFastify, roundRatios, medianRatio }, null, 2)}\n`,
  );
}
