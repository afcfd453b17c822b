import { afterEach, describe, expect, it } from "vitest";
import { type AppConfig, request } from "../../src/index.ts";
import { type ListeningApp, listeningApp } from "./raw-http.ts";

/**
 * Bodies built to cost the server work before any handler runs, sent over real HTTP: a form
 * with far too many fields, bodies over the default limit. Each must be refused at the door.
 */

let app: ListeningApp | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

const MiB = 1024 * 1024;

async function formApp(config: AppConfig = {}) {
  const seen = { runs: 0, fields: 0, prototypes: [] as unknown[] };
  app = await listeningApp((app) => {
    const handler = (params: Record<string, string | undefined>) => {
      seen.runs++;
      seen.fields = Object.keys(params).length;
      seen.prototypes = [
        Object.getPrototypeOf(params),
        Object.getPrototypeOf(request.formParams),
        Object.getPrototypeOf(request.queryParams),
      ];
      return {
        fields: seen.fields,
        proto: params.__proto__ ?? null,
        constructor: typeof params.constructor === "string" ? params.constructor : null,
        toString: typeof params.toString === "string" ? params.toString : null,
      };
    };
    app.httpEndpoint("/form", { methods: ["POST"] }, handler);
    app.httpEndpoint("/big-form", { methods: ["POST"], bodyLimit: 8 * MiB }, handler);
    app.httpEndpoint("/upload", { methods: ["POST"], bodyLimit: 4 * MiB }, () => ({
      bytes: request.body?.length ?? 0,
    }));
    app.httpEndpoint("/echo", { methods: ["POST"] }, () => ({
      bytes: request.body?.length ?? 0,
    }));
  }, config);
  return { app, seen };
}

function post(app: ListeningApp, path: string, body: string | Uint8Array, type: string) {
  return fetch(`${app.url}/_/api${path}`, {
    method: "POST",
    headers: { "content-type": type },
    body,
  });
}

const FORM = "application/x-www-form-urlencoded";
const fields = (n: number) => Array.from({ length: n }, (_, i) => `f${i}=${i}`).join("&");

describe("urlencoded forms", () => {
  it("take up to 1000 fields; one more is a 413 before the handler runs", async () => {
    const { app, seen } = await formApp();
    const ok = await post(app, "/form", fields(1000), FORM);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { fields: number }).fields).toBe(1000);
    seen.runs = 0;
    const tooMany = await post(app, "/form", fields(1001), FORM);
    expect(tooMany.status).toBe(413);
    expect(await tooMany.json()).toEqual({ error: "Form body refused: more than 1000 fields" });
    expect(seen.runs).toBe(0);
    // Empty segments are no fields: a thousand fields with stray separators still pass.
    const sparse = await post(app, "/form", `&&${fields(1000)}&&`, FORM);
    expect(sparse.status).toBe(200);
  });

  it("refuses a million fields with a 413 even where the endpoint allows a large body", async () => {
    const { app, seen } = await formApp();
    const million = "a&".repeat(1_000_000); // 2 MB
    const res = await post(app, "/big-form", million, FORM);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toMatch(/more than 1000 fields/);
    expect(seen.runs).toBe(0);
    // The server is free at once for the next request.
    expect((await post(app, "/form", "a=1", FORM)).status).toBe(200);
  });

  it("gives the handler null-prototype records in which any field name is an ordinary key", async () => {
    const { app, seen } = await formApp();
    const res = await fetch(`${app.url}/_/api/form?q=1`, {
      method: "POST",
      headers: { "content-type": FORM },
      body: "__proto__=p&constructor=c&toString=t&x=1",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ fields: 5, proto: "p", constructor: "c", toString: "t" });
    expect(seen.prototypes).toEqual([null, null, null]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe("the default body limit", () => {
  it("is 1 MiB: one byte more is a 413, before the handler", async () => {
    const { app } = await formApp();
    const ok = await post(app, "/echo", new Uint8Array(MiB), "application/octet-stream");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ bytes: MiB });
    const json = `"${"x".repeat(MiB)}"`; // a JSON body just over the limit
    const tooBig = await post(app, "/echo", json, "application/json");
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toEqual({ error: "Request body is too large" });
  });

  it("is raised per endpoint with bodyLimit, and for the app with settings.bodyLimit", async () => {
    const first = await formApp();
    const three = new Uint8Array(3 * MiB);
    expect((await post(first.app, "/upload", three, "application/octet-stream")).status).toBe(200);
    expect((await post(first.app, "/echo", three, "application/octet-stream")).status).toBe(413);
    await first.app.cleanup();
    app = undefined;

    const second = await formApp({ settings: { bodyLimit: "5mb" } });
    const res = await post(second.app, "/echo", three, "application/octet-stream");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ bytes: 3 * MiB });
  });
});
