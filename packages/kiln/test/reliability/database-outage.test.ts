import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createApp, tables } from "../../src/index.ts";
import { logCapture } from "../http/test-app.ts";
import { createPgSchema, pgTestsEnabled } from "../support/pg.ts";

/*
 * PostgreSQL goes away under a running app: Kiln sits behind a TCP proxy that the test turns
 * into a black hole (open connections cut, new ones accepted and never answered: a host that
 * drops packets). Endpoints that need the database answer 503 within the connect timeout,
 * the others keep serving, /_/health says 503 within its own bound, and when the proxy
 * forwards again Kiln reconnects by itself with its data intact.
 */

const runPg = await pgTestsEnabled();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  delete process.env.KILN_PG_CONNECT_TIMEOUT_MS;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Proxy {
  port: number;
  /** Cuts every open connection; new ones are accepted and then left unanswered. */
  blackhole(): void;
  forward(): void;
  close(): Promise<void>;
}

async function pgProxy(target: URL): Promise<Proxy> {
  let forwarding = true;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    client.on("error", () => undefined);
    if (!forwarding) return; // accepted, never answered
    const upstream = connect(Number(target.port || 5432), target.hostname);
    open.add(upstream);
    upstream.on("close", () => open.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    blackhole() {
      forwarding = false;
      for (const socket of open) socket.destroy();
    },
    forward() {
      forwarding = true;
      for (const socket of open) socket.destroy(); // the black-holed ones
    },
    close: () =>
      new Promise<void>((closed) => {
        for (const socket of open) socket.destroy();
        server.close(() => closed());
      }),
  };
}

async function appBehindProxy() {
  const { url, drop } = await createPgSchema();
  cleanups.push(drop);
  const proxy = await pgProxy(new URL(url));
  cleanups.push(() => proxy.close());
  const viaProxy = new URL(url);
  viaProxy.port = String(proxy.port);
  const dataDir = mkdtempSync(join(tmpdir(), "kiln-outage-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const logs = logCapture();
  const app = createApp({
    name: "outage",
    tables: { notes: { text: "text" } },
    dataDir,
    databaseUrl: viaProxy.toString(),
    logger: { destination: logs.stream },
  });
  cleanups.push(() => app.close());
  app.httpEndpoint("/notes", async () =>
    (await tables.notes.search().toArray()).map((note) => note.text as string),
  );
  app.httpEndpoint("/ping", () => "pong");
  await app.ready();
  await app.tables.notes.addRow({ text: "kept" });
  return { app, proxy, logs };
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work;
  return { value, ms: performance.now() - start };
}

describe.skipIf(!runPg)("postgres: the database goes away and comes back", () => {
  it("answers 503 with Retry-After while it is unreachable, serves the rest, and recovers by itself", async () => {
    process.env.KILN_PG_CONNECT_TIMEOUT_MS = "500";
    const { app, proxy, logs } = await appBehindProxy();
    expect((await app.inject({ url: "/_/api/notes" })).json()).toEqual(["kept"]);

    // Straight after the cut, the next query goes out on a pooled connection that is already
    // closing: pg fails the query and also emits "error" on the checked-out client, which
    // crashed the process (an uncaught exception) before Kiln listened for it.
    proxy.blackhole();
    const ping = await app.inject({ url: "/_/api/ping" });
    expect(ping.statusCode).toBe(200);

    const { value: notes, ms } = await timed(app.inject({ url: "/_/api/notes" }));
    expect(notes.statusCode).toBe(503);
    expect(notes.headers["retry-after"]).toBe("1");
    const body = notes.json();
    expect(body).toEqual({
      error: "The database is unavailable; try again shortly",
      id: expect.stringMatching(/^[0-9a-f]{12}$/),
    });
    expect(ms).toBeLessThan(5_000); // the 500 ms connect timeout, not the kernel's minutes
    const logged = logs.lines.find((line) => line.errorId === body.id);
    expect(logged).toMatchObject({ level: 50, err: { code: "KILN_DATABASE_UNAVAILABLE" } });

    const health = await app.inject({ url: "/_/health" });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toEqual({ status: "unavailable" });

    proxy.forward();
    expect((await app.inject({ url: "/_/health" })).statusCode).toBe(200);
    const back = await app.inject({ url: "/_/api/notes" });
    expect(back.statusCode).toBe(200);
    expect(back.json()).toEqual(["kept"]);
  });

  it("/_/health answers 503 within 3 s even while a connection attempt still hangs", async () => {
    process.env.KILN_PG_CONNECT_TIMEOUT_MS = "20000";
    const { app, proxy } = await appBehindProxy();
    proxy.blackhole();
    // Let the pool see its idle connections close, so the check needs a new one (which hangs).
    await new Promise((wait) => setTimeout(wait, 200));
    const { value: health, ms } = await timed(app.inject({ url: "/_/health" }));
    expect(health.statusCode).toBe(503);
    // The check gives up after 2.5 s (server.ts), which leaves 0.5 s for the answer on a busy
    // machine: the promise is 3 s, so that is the bound here.
    expect(ms).toBeGreaterThan(2_000);
    expect(ms).toBeLessThan(3_000);
    proxy.forward();
  });

  it("a KILN_PG_CONNECT_TIMEOUT_MS that is not a whole number is a clear start-up error", async () => {
    const { url, drop } = await createPgSchema();
    cleanups.push(drop);
    process.env.KILN_PG_CONNECT_TIMEOUT_MS = "soon";
    const dataDir = mkdtempSync(join(tmpdir(), "kiln-outage-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // Refused as the app is created, before anything connects.
    expect(() =>
      createApp({
        name: "bad-timeout",
        tables: { notes: { text: "text" } },
        dataDir,
        databaseUrl: url,
        logger: false,
      }),
    ).toThrow(
      expect.objectContaining({
        code: "KILN_BAD_CONFIG",
        message: expect.stringContaining(
          'KILN_PG_CONNECT_TIMEOUT_MS must be a whole number of milliseconds from 1 up, got "soon"',
        ),
      }),
    );
  });
});
