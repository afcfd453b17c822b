import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";

/**
 * An open-loop load generator: requests are due at evenly spaced times (rate per second), and
 * each one's latency is measured from the time it was due, not from when a connection was free
 * to send it. A server that stalls therefore pays for every request that queued behind the
 * stall ("coordinated omission" corrected, as wrk2 does).
 *
 * Why not autocannon's `overallRate`: it gives each connection a quota per second and sends it
 * as fast as it can from the top of each second, then waits. The load arrives in bursts at
 * full speed once a second, and the p99 it reports is the burst's queue, not the rate's.
 *
 * The client is a few keep-alive sockets speaking just enough HTTP/1.1 (Content-Length or
 * chunked answers, one request in flight per connection), so it costs the shared machine
 * little CPU.
 */
export interface OpenLoopOptions {
  url: string;
  headers?: Record<string, string>;
  /** Requests per second, spread evenly. */
  rate: number;
  seconds: number;
  /** Keep-alive connections; a due request waits (and its latency counts) if all are busy. */
  connections: number;
}

export interface OpenLoopResult {
  rate: number;
  /** Answers received within the measured seconds, per second. */
  achieved: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  non2xx: number;
  /** Connection errors and requests left unanswered 10 s after the last was due. */
  errors: number;
}

interface Connection {
  socket: Socket;
  /** When the request in flight was due, or null when the connection is idle. */
  due: number | null;
  chunks: Buffer[];
}

const DRAIN_MS = 10_000;

export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const url = new URL(options.url);
  const headerLines = Object.entries(options.headers ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  const request = Buffer.from(
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n${headerLines}\r\n`,
  );
  const total = Math.round(options.rate * options.seconds);
  const latencies = new Float64Array(total);
  const pending: number[] = []; // due times of requests waiting for a free connection
  let nextPending = 0;
  const idle: Connection[] = [];
  let answered = 0;
  let answeredInWindow = 0;
  let non2xx = 0;
  let errors = 0;
  let start = 0;
  let end = 0;
  let finish: () => void = () => {};

  const send = (conn: Connection, due: number) => {
    conn.due = due;
    conn.socket.write(request);
  };
  const settle = (conn: Connection, ok: boolean, status: number) => {
    const now = performance.now();
    if (ok) {
      latencies[answered++] = now - conn.due!;
      if (now <= end) answeredInWindow++;
      if (status < 200 || status > 299) non2xx++;
    } else errors++;
    conn.due = null;
    if (!conn.socket.destroyed) {
      if (nextPending < pending.length) send(conn, pending[nextPending++]!);
      else idle.push(conn);
    }
    if (answered + errors === total) finish();
  };

  const open = (): Promise<Connection> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
      const conn: Connection = { socket, due: null, chunks: [] };
      socket.once("connect", () => resolve(conn));
      socket.once("error", reject);
      socket.on("data", (chunk: Buffer) => {
        conn.chunks.push(chunk);
        const status = complete(conn);
        if (status !== null && conn.due !== null) settle(conn, true, status);
      });
      socket.on("close", () => {
        if (conn.due !== null) settle(conn, false, 0);
      });
    });

  const connections = await Promise.all(Array.from({ length: options.connections }, open));
  for (const conn of connections) conn.socket.on("error", () => {}); // counted on close
  idle.push(...connections);

  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  start = performance.now();
  end = start + options.seconds * 1000;
  let scheduled = 0;
  const interval = 1000 / options.rate;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (scheduled < total && start + scheduled * interval <= now) {
        const due = start + scheduled * interval;
        scheduled++;
        let conn = idle.pop();
        while (conn?.socket.destroyed) conn = idle.pop();
        if (conn) send(conn, due);
        else pending.push(due);
      }
      if (scheduled < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, DRAIN_MS).unref());
  await Promise.race([done, timeout]);
  for (const conn of connections) conn.socket.destroy();
  const unanswered = total - answered - errors;

  const sorted = latencies.subarray(0, answered).sort();
  const at = (q: number) =>
    answered === 0 ? Number.NaN : round(sorted[Math.min(answered - 1, Math.floor(answered * q))]!);
  return {
    rate: options.rate,
    achieved: Math.round(answeredInWindow / options.seconds),
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: at(1),
    non2xx,
    errors: errors + unanswered,
  };
}

/** The status of the complete answer buffered on `conn` (consuming it), or null if partial. */
function complete(conn: Connection): number | null {
  const data = conn.chunks.length === 1 ? conn.chunks[0]! : Buffer.concat(conn.chunks);
  conn.chunks = [data];
  const headEnd = data.indexOf("\r\n\r\n");
  if (headEnd === -1) return null;
  const head = data.toString("latin1", 0, headEnd).toLowerCase();
  const status = Number(head.slice(9, 12));
  const length = /\r\ncontent-length: *(\d+)/.exec(head);
  let size: number;
  if (length) size = headEnd + 4 + Number(length[1]);
  else if (head.includes("transfer-encoding: chunked")) {
    const last = data.indexOf("\r\n0\r\n\r\n", headEnd);
    if (last === -1) return null;
    size = last + 7;
  } else size = headEnd + 4;
  if (data.length < size) return null;
  conn.chunks = [];
  return status;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
