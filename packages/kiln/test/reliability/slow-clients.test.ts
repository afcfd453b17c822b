import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logCapture } from "../http/test-app.ts";
import { type ListeningApp, listeningApp, parseResponse, sleep } from "./raw-http.ts";

/**
 * Slow clients (slowloris and friends) against a real listening server with short, per-app
 * timeouts. A client trickling its headers or body is cut off with a JSON 408 once the
 * documented timeout passes, and meanwhile every other client is served as usual.
 */

const HEADERS_TIMEOUT = 600;
const REQUEST_TIMEOUT = 1_200;
const KEEP_ALIVE_TIMEOUT = 400;

let app: ListeningApp;
const log = logCapture();

beforeAll(async () => {
  app = await listeningApp(
    (app) => {
      app.httpEndpoint("/ping", () => ({ ok: true }));
      app.httpEndpoint("/upload", { methods: ["POST"] }, () => "stored");
    },
    {
      limits: {
        headersTimeout: HEADERS_TIMEOUT,
        requestTimeout: REQUEST_TIMEOUT,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT,
      },
      logger: { destination: log.stream, level: "info" },
    },
  );
});

afterAll(() => app?.cleanup());

/**
 * A client that writes `prefix` at once, then `data` one byte every `everyMs`, and records
 * what comes back.
 */
function trickle(data: string, everyMs: number, prefix = "") {
  const socket = net.connect(app.port, "127.0.0.1");
  if (prefix) socket.write(prefix);
  const chunks: Buffer[] = [];
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < data.length && socket.writable) socket.write(data[sent++]!);
  }, everyMs);
  socket.on("data", (chunk) => chunks.push(chunk));
  socket.on("error", () => undefined); // a reset is one of the accepted ways to be cut off
  const closed = new Promise<{ atMs: number; bytesSent: number }>((resolve) => {
    const start = Date.now();
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ atMs: Date.now() - start, bytesSent: sent });
    });
  });
  return {
    closed,
    response: () => parseResponse(Buffer.concat(chunks).toString("latin1"), true),
    destroy: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

const GET = "GET /_/api/ping HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + "p".repeat(200);
const POST_HEAD =
  "POST /_/api/upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n" +
  "Content-Length: 1000\r\n\r\n";

describe("slow clients", () => {
  it("a client sending its headers byte by byte is cut off with a JSON 408", async () => {
    const slow = trickle(`${GET}\r\n\r\n`, 20);
    const { atMs, bytesSent } = await slow.closed;
    const res = slow.response();
    expect(res.status).toBe(408);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(JSON.parse(res.body).error).toMatch(/not received in time/);
    expect(bytesSent).toBeLessThan(GET.length); // cut off before it finished
    // Cut off after the headers timeout, well before the (much longer) default would allow.
    expect(atMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 50);
    expect(atMs).toBeLessThan(HEADERS_TIMEOUT + 2_000);
  });

  it("a client sending its body byte by byte is cut off with a JSON 408", async () => {
    const slow = trickle("b".repeat(1000), 5, POST_HEAD);
    const { atMs, bytesSent } = await slow.closed;
    const res = slow.response();
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body).error).toMatch(/not received in time/);
    expect(bytesSent).toBeLessThan(1000);
    expect(atMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT - 50);
    expect(atMs).toBeLessThan(REQUEST_TIMEOUT + 2_000);
  });

  it("a slow client that finishes within the timeouts is served", async () => {
    const slowButFine = trickle(
      `GET /_/api/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      5,
    );
    await slowButFine.closed;
    expect(slowButFine.response().status).toBe(200);
  });

  it("a connection that never sends a byte is closed", async () => {
    const silent = trickle("", 1_000);
    const { atMs } = await silent.closed;
    expect(atMs).toBeLessThan(HEADERS_TIMEOUT + 2_000);
  });

  it("an idle keep-alive connection is closed after keepAliveTimeout", async () => {
    const client = trickle("GET /_/api/ping HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    const { atMs } = await client.closed;
    expect(client.response().status).toBe(200);
    expect(atMs).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT - 50);
    expect(atMs).toBeLessThan(KEEP_ALIVE_TIMEOUT + 2_000);
  });

  it("50 slow clients do not starve the others, and are all cut off", async () => {
    const slow = Array.from({ length: 50 }, (_, i) =>
      i % 2 === 0 ? trickle(`${GET}\r\n\r\n`, 25) : trickle("b".repeat(1000), 25, POST_HEAD),
    );
    await sleep(100);
    const served: number[] = [];
    let allCutAt = Number.POSITIVE_INFINITY;
    const cut = Promise.all(slow.map((s) => s.closed)).then(() => {
      allCutAt = Date.now();
    });
    // Normal clients, one after another, while the slow ones hold their connections.
    const start = Date.now();
    while (Date.now() - start < HEADERS_TIMEOUT / 2) {
      const res = await fetch(`${app.url}/_/api/ping`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
      served.push(Date.now());
    }
    expect(served.length).toBeGreaterThan(5);
    await cut;
    // Everyone normal was answered before the slow ones were cut loose: no queueing behind them.
    expect(Math.max(...served)).toBeLessThan(allCutAt);
    for (const s of slow) expect(s.response().status).toBe(408);
  });

  it("nothing above info level is logged, and every cut-off is logged as a client error", () => {
    expect(log.lines.filter((line) => Number(line.level) >= 50)).toEqual([]);
    const cutOffs = log.lines.filter((line) => line.msg === "client error" && line.status === 408);
    expect(cutOffs.length).toBeGreaterThanOrEqual(52);
  });
});
