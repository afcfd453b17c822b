import { readFileSync } from "node:fs";
import autocannon from "autocannon";

export interface LoadOptions {
  url: string;
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  headers?: Record<string, string>;
  body?: string;
  /** Measured seconds (default 10). */
  seconds?: number;
  /** Unmeasured seconds first, so the JIT and caches are warm (default 3). */
  warmupSeconds?: number;
  /** Concurrent connections (default 50). */
  connections?: number;
  /** Requests in flight per connection (default 1: each waits for its answer). */
  pipelining?: number;
  /** The server's process id: its CPU time per request is measured too (Linux only). */
  serverPid?: number;
}

/** One measured run. */
export interface Figure {
  requestsPerSecond: number;
  latencyMeanMs: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  /**
   * Server CPU time (user + system, all threads) per request, in µs, or null where /proc is
   * missing. Steadier than req/s on a shared machine: it does not count the time the server
   * waited for a core.
   */
  serverCpuUs: number | null;
}

/**
 * Loads `url` with autocannon from this process: a warm-up, then the measured run. A run
 * with any error or non-2xx answer throws, so a broken server never passes for a fast one.
 * @example const figure = await measure({ url: `${url}/_/api/hello` });
 */
export async function measure(options: LoadOptions): Promise<Figure> {
  const base = {
    url: options.url,
    method: options.method ?? "GET",
    headers: options.headers,
    body: options.body,
    connections: options.connections ?? 50,
    pipelining: options.pipelining ?? 1,
  };
  const warmup = options.warmupSeconds ?? 3;
  if (warmup > 0) await autocannon({ ...base, duration: warmup });
  const cpuBefore = processCpuMs(options.serverPid);
  const result = await autocannon({ ...base, duration: options.seconds ?? 10 });
  const cpuAfter = processCpuMs(options.serverPid);
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(`${options.url}: ${result.errors} errors, ${result.non2xx} non-2xx answers`);
  }
  return {
    requestsPerSecond: Math.round(result.requests.average),
    latencyMeanMs: result.latency.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    serverCpuUs:
      cpuBefore === null || cpuAfter === null
        ? null
        : Math.round(((cpuAfter - cpuBefore) * 1000 * 10) / result.requests.total) / 10,
  };
}

/** CPU time a process has used (user + system), in ms, from /proc; null elsewhere. */
function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    // Fields 14 and 15 of /proc/PID/stat (after the parenthesised name): utime, stime in ticks.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : null; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}
