import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HttpResponse } from "../../src/index.ts";
import { logCapture, testApp } from "./test-app.ts";

/**
 * Errors that Node or Fastify raise themselves, not Kiln or the handler, answered over real
 * HTTP. Each is answered in Kiln's shape (`{ error, id }` for a 500, logged under the id), never
 * with Fastify's `{ statusCode, code, error, message }` body, which quotes internals back.
 */

let app: ReturnType<typeof testApp> | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

async function serve(
  add: (a: ReturnType<typeof testApp>) => void,
): Promise<{ url: string; lines: Record<string, unknown>[] }> {
  const logs = logCapture();
  app = testApp({ logger: { destination: logs.stream } });
  add(app);
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  return { url, lines: logs.lines };
}

/** The answer of a 500 in Kiln's shape, and the log line that holds its id and cause. */
async function expectInternalError(
  response: Response,
  lines: Record<string, unknown>[],
): Promise<Record<string, unknown>> {
  expect(response.status).toBe(500);
  expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
  const body = (await response.json()) as { error: string; id: string };
  expect(body).toEqual({
    error: "Internal server error",
    id: expect.stringMatching(/^[0-9a-f]{12}$/),
  });
  const logged = lines.find((line) => line.errorId === body.id);
  expect(logged).toBeDefined();
  return (logged as { err: Record<string, unknown> }).err;
}

describe("errors Node or Fastify raise", () => {
  it("a response header value Node refuses (a newline) is a 500 { error, id }, the cause logged", async () => {
    const { url, lines } = await serve((a) =>
      a.httpEndpoint(
        "/bad",
        () => new HttpResponse({ body: { ok: true }, headers: { "x-a": "a\nb" } }),
      ),
    );
    const response = await fetch(`${url}/_/api/bad`, { signal: AbortSignal.timeout(5_000) });
    expect(response.headers.get("x-a")).toBeNull();
    const err = await expectInternalError(response, lines);
    expect(err.code).toBe("ERR_INVALID_CHAR");
  });

  it("a header name Node refuses, and a value outside Latin-1, answer the same way", async () => {
    const { url, lines } = await serve((a) => {
      a.httpEndpoint("/name", () => new HttpResponse({ body: "x", headers: { "x a": "1" } }));
      a.httpEndpoint("/value", () => new HttpResponse({ body: "x", headers: { "x-b": "Ā" } }));
    });
    const name = await fetch(`${url}/_/api/name`, { signal: AbortSignal.timeout(5_000) });
    expect((await expectInternalError(name, lines)).code).toBe("ERR_INVALID_HTTP_TOKEN");
    const value = await fetch(`${url}/_/api/value`, { signal: AbortSignal.timeout(5_000) });
    expect((await expectInternalError(value, lines)).code).toBe("ERR_INVALID_CHAR");
    // The server keeps serving on the same app.
    expect((await fetch(`${url}/_/health`)).status).toBe(200);
  });

  it("a status set to 1xx after construction is a 500, not an interim answer that leaves the client waiting", async () => {
    const { url, lines } = await serve((a) =>
      a.httpEndpoint("/interim", () => {
        const response = new HttpResponse({ body: "x" });
        response.status = 101;
        return response;
      }),
    );
    const response = await fetch(`${url}/_/api/interim`, { signal: AbortSignal.timeout(5_000) });
    expect((await expectInternalError(response, lines)).code).toBe("KILN_BAD_STATUS");
  });

  it("a request arriving on an open connection while the server closes gets Kiln's 503, not Fastify's", async () => {
    const releases: (() => void)[] = [];
    let started: () => void = () => undefined;
    const inFlight = new Promise<void>((resolve) => {
      started = resolve;
    });
    await serve((a) =>
      a.httpEndpoint("/slow", async () => {
        started();
        await new Promise<void>((resolve) => releases.push(resolve));
        return "done";
      }),
    );
    const { port } = app!.server.server.address() as AddressInfo;
    const socket = net.connect(port, "127.0.0.1");
    let raw = "";
    socket.on("data", (chunk: Buffer) => {
      raw += chunk.toString("latin1");
    });
    const ended = new Promise((resolve) => socket.on("close", resolve));
    const request = "GET /_/api/slow HTTP/1.1\r\nHost: x\r\n\r\n";
    socket.write(request);
    await inFlight;
    const closed = app!.close();
    // The connection is busy, so the close keeps it open: a second request still arrives.
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.write(request);
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const release of releases) release();
    await closed;
    await ended;
    expect(raw.startsWith("HTTP/1.1 200")).toBe(true);
    const second = raw.slice(raw.indexOf("HTTP/1.1", 10));
    expect(second.startsWith("HTTP/1.1 503")).toBe(true);
    expect(second.toLowerCase()).toContain("\r\nconnection: close\r\n");
    const body = second.slice(second.indexOf("\r\n\r\n") + 4);
    expect(JSON.parse(body)).toEqual({
      error: "The server is shutting down; retry on a new connection",
    });
  });
});
