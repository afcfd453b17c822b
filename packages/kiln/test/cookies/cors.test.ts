import { afterEach, describe, expect, it } from "vitest";
import { HttpError } from "../../src/index.ts";
import { cookieApp, type TestApp } from "./cookie-test-app.ts";

let app: TestApp;
afterEach(() => app?.cleanup());

const ORIGIN = "https://other.example";

function corsApp(): TestApp {
  app = cookieApp();
  app.httpEndpoint("/open", { crossOrigin: true }, () => ({ open: true }));
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
  it("echoes the request's Origin with credentials allowed, and varies on Origin", async () => {
    const res = await corsApp().inject({ url: "/_/api/open", headers: { origin: ORIGIN } });
    expect(res.json()).toEqual({ open: true });
    expect(res.headers["access-control-allow-origin"]).toBe(ORIGIN);
    expect(res.headers["access-control-allow-credentials"]).toBe("true");
    expect(res.headers.vary).toBe("Origin");
  });

  it("answers * without credentials when there is no Origin, or the opaque null origin", async () => {
    const a = corsApp();
    for (const headers of [{}, { origin: "null" }]) {
      const res = await a.inject({ url: "/_/api/open", headers });
      expect(res.headers["access-control-allow-origin"]).toBe("*");
      expect(res.headers["access-control-allow-credentials"]).toBeUndefined();
    }
  });

  it("answers preflights with the endpoint's methods and the requested headers", async () => {
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
      "access-control-allow-origin": ORIGIN,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "PUT, DELETE",
      "access-control-allow-headers": "content-type, x-api-key",
      "access-control-max-age": "600",
    });
    expect(res.headers.vary).toContain("Origin");
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
    expect(res.headers["access-control-allow-origin"]).toBe(ORIGIN);
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
