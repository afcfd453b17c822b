import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import { UsageError } from "./command.ts";

/** `--workers N|auto`: how many worker processes; `auto` is one per CPU. */
export function workerCount(value: string | boolean | undefined): number {
  if (value === undefined) return 1;
  if (value === "auto") return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new UsageError(
      `--workers must be "auto" or an integer from 1 to 256, got ${String(value)}`,
    );
  }
  return n;
}

/** A worker that dies this soon after starting counts towards the crash-loop limit. */
const EARLY_DEATH_MS = 5_000;
const MAX_EARLY_DEATHS = 5;

/**
 * The primary of `kiln start --workers N`: forks N workers that share the port (node:cluster
 * hands connections to them in turn), replaces a worker that dies, gives up after repeated
 * early deaths (a crash loop helps nobody), and on SIGTERM/SIGINT stops every worker
 * gracefully (each drains its in-flight requests) before exiting 0.
 */
export function runPrimary(count: number, app: { name: string; prefix: string }): Promise<number> {
  return new Promise((done) => {
    let stopping = false;
    let earlyDeaths = 0;
    let announced = false;
    const started = new Map<Worker, number>();
    const serving = new Set<Worker>();

    const fork = () => {
      const worker = cluster.fork({ KILN_WORKER: "1" });
      started.set(worker, Date.now());
      worker.on("message", (message: { type?: string; url?: string; error?: string }) => {
        if (message?.type === "listening") serving.add(worker);
        if (message?.type === "listening" && !announced) {
          announced = true;
          // The same words as a single process, so whatever watches for them works either way.
          console.error(
            `kiln: ${app.name} is serving at ${message.url}${app.prefix} with ${count} workers`,
          );
        } else if (message?.type === "fatal") {
          // A worker that cannot listen (port in use) will not do better on a restart.
          console.error(`kiln start: ${message.error}`);
          stopAll(1);
        }
      });
    };

    const stopAll = (code: number) => {
      if (stopping) return;
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
      if (workers.length === 0) return done(code);
      let left = workers.length;
      let result = code;
      for (const worker of workers) {
        worker.once("exit", (exitCode: number | null, signal: string | null) => {
          // A serving worker must drain and exit 0; anything else may have cut requests off,
          // and the exit code says so. (One still loading has nothing in flight.)
          if (serving.has(worker) && (exitCode !== 0 || signal)) {
            console.error(
              `kiln: worker ${worker.process.pid} did not stop cleanly (${signal ?? `code ${exitCode}`})`,
            );
            result = 1;
          }
          left -= 1;
          if (left === 0) done(result);
        });
        worker.process.kill("SIGTERM");
      }
    };

    cluster.on("exit", (worker, exitCode, signal) => {
      const lived = Date.now() - (started.get(worker) ?? 0);
      started.delete(worker);
      if (stopping) return;
      serving.delete(worker);
      console.error(
        `kiln: worker ${worker.process.pid} exited (${signal ?? `code ${exitCode}`}); starting another`,
      );
      if (lived < EARLY_DEATH_MS && ++earlyDeaths >= MAX_EARLY_DEATHS) {
        console.error("kiln start: workers keep dying at start; giving up");
        stopAll(1);
        return;
      }
      fork();
    });

    for (let i = 0; i < count; i++) fork();
    process.once("SIGTERM", () => stopAll(0));
    process.once("SIGINT", () => stopAll(0));
  });
}

export const isWorker = (): boolean => cluster.isWorker;
