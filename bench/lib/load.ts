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
  const result = await autocannon({ ...base, duration: options.seconds ?? 10 });
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
  };
}
