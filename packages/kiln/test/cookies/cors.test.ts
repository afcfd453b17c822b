import { afterEach, describe, expect, it } from "vitest";
import { HttpError, session } from "../../src/index.ts";
import { cookieApp, type TestApp } from "./cookie-test-app.ts";

let app: TestApp;
afterEach(() => app?.cleanup());

const ORIGIN = "https://other.example";
const LISTED = "https://app.example.com";

function corsApp(): TestApp {
  app = cookieApp();
  app.httpEndpoint("/open", { crossOrigin: true }, () => ({ open: true }));
  app.httpEndpoint("/listed", { crossOrigin: [LISTED, "http://localhost:5173/"] }, () => "ok");
  app.httpEndpoint("/listed/:id", { crossOrigin: [LISTED], methods: ["PUT"] }, ({ id }) => id);
  app.httpEndpoint("/decided", { crossOrigin: (o) => o.endsWith(".example.com") }, () => "ok");
  app.httpEndpoint(
    "/throws",
    {
      crossOrigin: () => {
        throw new Error("the app's own bug");
      },
    },
    () => "ok",
  );
  app.httpEndpoint("/open/:id", { crossOrigin: true, methods: ["PUT", "DELETE"] }, ({ id }) => id);
  app.httpEndpoint("/files/:rest*", { crossOrigin: true }, ({ rest }) => rest);
  app.httpEndpoint("/failing", { crossOrigin: true }, () => {
    throw new HttpError(409, "conflict");
  });
  app.httpEndpoint("/plain", () => ({ plain: true }));
  app.httpEndpoint("/own-options", { methods: ["GET", "OPTIONS"] }, () => "handled here");
  return app;
}

const corsHeaders = (headers: Record<string, unknown>) =>
  Object.keys(headers).filter((name) => name.startsWith("access-control-"));

describe("crossOrigin: true", () => {
  it("lets any origin read, never with credentials, and varies on Origin", async () => {
    const a = corsApp();
    for (const headers of [{ origin: ORIGIN }, {}, { origin: "null" }]) {
      const res = await a.inject({ url: "/_/api/open", headers });
      expect(res.json()).toEqual({ open: true });
      expect(res.headers["access-control-allow-origin"]).toBe("*");
      expect(res.headers["access-control-allow-credentials"]).toBeUndefined();
      expect(res.headers.vary).toBe("Origin");
    }
  });

  it("answers preflights with *, the endpoint's methods and the requested headers", async () => {
    const res = await corsApp().inject({
      method: "OPTIONS",
      url: "/_/api/open/42",
      headers: {
        origin: ORIGIN,
        "access-control-request-method": "PUT",
        "access-control-request-headers": "content-type, x-api-key",
      },
    });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe("");
    expect(res.headers).toMatchObject({
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "PUT, DELETE",
      "access-control-allow-headers": "content-type, x-api-key",
      "access-control-max-age": "600",
    });
    expect(res.headers["access-control-allow-credentials"]).toBeUndefined();
    expect(res.headers.vary).toContain("Origin");
  });

  it("answers one preflight for a path registered once per method, naming every method", async () => {
    app = cookieApp();
    app.httpEndpoint("/split/:id", { crossOrigin: true, methods: ["GET"] }, ({ id }) => id);
    app.httpEndpoint("/split/:id", { crossOrigin: true, methods: ["PUT"] }, ({ id }) => id);
    const res = await app.inject({
      method: "OPTIONS",
      url: "/_/api/split/1",
      headers: { origin: ORIGIN, "access-control-request-method": "PUT" },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers["access-control-allow-methods"]).toBe("GET, HEAD, PUT");
    const put = await app.inject({
      method: "PUT",
      url: "/_/api/split/1",
      headers: { origin: ORIGIN },
    });
    expect(put.headers["access-control-allow-origin"]).toBe("*");
  });

  it("answers preflights on catch-all paths too, and lists HEAD with GET", async () => {
    const res = await corsApp().inject({
      method: "OPTIONS",
      url: "/_/api/files/a/b/c.txt",
      headers: { origin: ORIGIN, "access-control-request-method": "GET" },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers["access-control-allow-methods"]).toBe("GET, POST, HEAD");
    expect(res.headers["access-control-allow-headers"]).toBeUndefined();
  });

  it("does not echo a malformed Access-Control-Request-Headers", async () => {
    const res = await corsApp().inject({
      method: "OPTIONS",
      url: "/_/api/open",
      headers: { origin: ORIGIN, "access-control-request-headers": "x-a, <script>" },
    });
    expect(res.headers["access-control-allow-headers"]).toBeUndefined();
  });

  it("lets other origins read error answers too", async () => {
    const res = await corsApp().inject({ url: "/_/api/failing", headers: { origin: ORIGIN } });
    expect(res.statusCode).toBe(409);
    expect(res.headers["access-control-allow-origin"]).toBe("*");
  });
});

describe("crossOrigin: a list of origins, or a function", () => {
  it("echoes a listed origin with credentials allowed", async () => {
    const a = corsApp();
    for (const origin of [LISTED, "http://localhost:5173"]) {
      const res = await a.inject({ url: "/_/api/listed", headers: { origin } });
      expect(res.headers["access-control-allow-origin"]).toBe(origin);
      expect(res.headers["access-control-allow-credentials"]).toBe("true");
      expect(res.headers.vary).toBe("Origin");
    }
  });

  it("gives any other origin no CORS header at all (and still varies on Origin)", async () => {
    const a = corsApp();
    for (const origin of [
      ORIGIN,
      "http://app.example.com",
      "https://app.example.com:8443",
      "null",
    ]) {
      const res = await a.inject({ url: "/_/api/listed", headers: { origin } });
      expect(res.statusCode).toBe(200);
      expect(corsHeaders(res.headers)).toEqual([]);
      expect(res.headers.vary).toBe("Origin");
    }
  });

  it("answers preflights of listed origins only", async () => {
    const a = corsApp();
    const preflight = (origin: string) =>
      a.inject({
        method: "OPTIONS",
        url: "/_/api/listed/7",
        headers: {
          origin,
          "access-control-request-method": "PUT",
          "access-control-request-headers": "content-type",
        },
      });
    const listed = await preflight(LISTED);
    expect(listed.statusCode).toBe(204);
    expect(listed.headers).toMatchObject({
      "access-control-allow-origin": LISTED,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "PUT",
    });
    const other = await preflight(ORIGIN);
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
    expect(other.headers["access-control-allow-credentials"]).toBeUndefined();
  });

  it("asks the function about each origin; one that throws means no", async () => {
    const a = corsApp();
    const yes = await a.inject({ url: "/_/api/decided", headers: { origin: LISTED } });
    expect(yes.headers["access-control-allow-origin"]).toBe(LISTED);
    expect(yes.headers["access-control-allow-credentials"]).toBe("true");
    const no = await a.inject({ url: "/_/api/decided", headers: { origin: ORIGIN } });
    expect(corsHeaders(no.headers)).toEqual([]);
    const broken = await a.inject({ url: "/_/api/throws", headers: { origin: LISTED } });
    expect(broken.statusCode).toBe(200);
    expect(corsHeaders(broken.headers)).toEqual([]);
  });

  it("asks the function once per request, though CORS and the XSRF rule both need its answer", async () => {
    app = cookieApp();
    let calls = 0;
    const decide = (origin: string) => {
      calls++;
      return origin === LISTED;
    };
    // Reading the session makes the XSRF rule ask too (is the page trusted to act as the user?).
    app.httpEndpoint("/counted", { crossOrigin: decide }, () => ({ n: session.get("n") ?? 0 }));
    for (const origin of [LISTED, ORIGIN]) {
      calls = 0;
      const res = await app.inject({
        url: "/_/api/counted",
        headers: { origin, "sec-fetch-site": "cross-site" },
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers["access-control-allow-origin"]).toBe(
        origin === LISTED ? LISTED : undefined,
      );
      expect(calls).toBe(1);
    }
  });

  it("refuses, when the endpoint is defined, an entry that is not an origin", () => {
    app = cookieApp();
    for (const entry of ["*", "app.example.com", "https://app.example.com/path", "ftp://x.io"]) {
      expect(() => app.httpEndpoint("/x", { crossOrigin: [entry] }, () => "x")).toThrow(
        /not an origin/,
      );
    }
    expect(() => app.httpEndpoint("/x", { crossOrigin: "*" as never }, () => "x")).toThrow(
      /crossOrigin must be/,
    );
  });
});

describe("an endpoint without crossOrigin", () => {
  it("sends no CORS header at all, whatever the Origin", async () => {
    const res = await corsApp().inject({ url: "/_/api/plain", headers: { origin: ORIGIN } });
    expect(res.statusCode).toBe(200);
    expect(corsHeaders(res.headers)).toEqual([]);
  });

  it("answers OPTIONS with 405 and no CORS header, so preflights fail", async () => {
    const res = await corsApp().inject({
      method: "OPTIONS",
      url: "/_/api/plain",
      headers: { origin: ORIGIN, "access-control-request-method": "PUT" },
    });
    expect(res.statusCode).toBe(405);
    expect(corsHeaders(res.headers)).toEqual([]);
  });

  it("may handle OPTIONS itself by listing it among its methods", async () => {
    const res = await corsApp().inject({ method: "OPTIONS", url: "/_/api/own-options" });
    expect(res.body).toBe("handled here");
  });
});
