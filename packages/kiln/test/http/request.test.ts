import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { KilnError, request } from "../../src/index.ts";
import { multipart, testApp } from "./test-app.ts";

let app: ReturnType<typeof testApp>;
afterEach(() => app?.cleanup());

describe("keyword parameters", () => {
  it("merge form < query < URL: a path parameter beats a query parameter beats a form field", async () => {
    app = testApp();
    app.httpEndpoint("/tasks/:id", (params) => params);
    const res = await app.inject({
      method: "POST",
      url: "/_/api/tasks/from-url?id=from-query&q=query&both=query",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "id=from-form&both=form&f=form",
    });
    expect(res.json()).toEqual({ id: "from-url", q: "query", both: "query", f: "form" });
  });

  it("merge multipart fields too, with the query winning", async () => {
    app = testApp();
    app.httpEndpoint("/upload", (params) => params);
    const form = new FormData();
    form.set("title", "from-form");
    form.set("note", "kept");
    const { payload, headers } = await multipart(form);
    const res = await app.inject({
      method: "POST",
      url: "/_/api/upload?title=from-query",
      headers,
      payload,
    });
    expect(res.json()).toEqual({ title: "from-query", note: "kept" });
  });

  it("do not merge a JSON body; it is request.bodyJson and the second argument", async () => {
    app = testApp();
    app.httpEndpoint("/json", (params, { body }) => ({
      params,
      body,
      bodyJson: request.bodyJson,
    }));
    const res = await app.inject({
      method: "POST",
      url: "/_/api/json?x=1",
      payload: { title: "from-json", x: "2" },
    });
    expect(res.json()).toEqual({
      params: { x: "1" },
      body: { title: "from-json", x: "2" },
      bodyJson: { title: "from-json", x: "2" },
    });
  });

  it("a repeated query parameter keeps its last value, and every value is a string", async () => {
    app = testApp();
    app.httpEndpoint("/q", (params) => params);
    const res = await app.inject({ url: "/_/api/q?tag=a&tag=b&n=5&empty=" });
    expect(res.json()).toEqual({ tag: "b", n: "5", empty: "" });
  });

  it("query values are percent-decoded", async () => {
    app = testApp();
    app.httpEndpoint("/q", ({ s }) => ({ s }));
    const res = await app.inject({ url: "/_/api/q?s=%5B1%2C2%5D+x" });
    expect(res.json()).toEqual({ s: "[1,2] x" });
  });
});

describe("request", () => {
  it("describes the request being handled", async () => {
    app = testApp();
    app.httpEndpoint("/info/:id", () => ({
      method: request.method,
      path: request.path,
      url: request.url,
      agent: request.headers["user-agent"],
      custom: request.headers["x-custom"],
      queryParams: request.queryParams,
      formParams: request.formParams,
      origin: request.origin,
      remoteAddress: request.remoteAddress,
      username: request.username,
      password: request.password,
      user: request.user,
    }));
    const res = await app.inject({
      method: "POST",
      url: "/_/api/info/5?a=1",
      headers: {
        "user-agent": "tester",
        "X-Custom": "yes",
        origin: "https://example.com",
        host: "api.example.com",
        "content-type": "application/x-www-form-urlencoded",
      },
      payload: "f=2",
    });
    expect(res.json()).toEqual({
      method: "POST",
      path: "/_/api/info/5",
      url: "http://api.example.com/_/api/info/5?a=1",
      agent: "tester",
      custom: "yes",
      queryParams: { a: "1" },
      formParams: { f: "2" },
      origin: "https://example.com",
      remoteAddress: "127.0.0.1",
      username: null,
      password: null,
      user: null,
    });
  });

  it("is available anywhere in the async call chain of the handler", async () => {
    app = testApp();
    async function deepHelper(): Promise<string> {
      await sleep(5);
      await new Promise((resolve) => setImmediate(resolve));
      return request.path;
    }
    app.httpEndpoint("/deep/:n", async () => {
      const fromTimer = await new Promise<string>((resolve) =>
        setTimeout(() => resolve(request.queryParams.who ?? "?"), 1),
      );
      return { path: await deepHelper(), fromTimer };
    });
    // Concurrent requests each see their own request, never a neighbour's.
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((n) => app.inject({ url: `/_/api/deep/${n}?who=w${n}` })),
    );
    results.forEach((res, i) => {
      expect(res.json()).toEqual({ path: `/_/api/deep/${i + 1}`, fromTimer: `w${i + 1}` });
    });
  });

  it("outside a handler throws KILN_NO_REQUEST with a clear message", () => {
    let error: unknown;
    try {
      void request.method;
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KilnError);
    expect((error as KilnError).code).toBe("KILN_NO_REQUEST");
    expect((error as KilnError).message).toMatch(/only inside an endpoint handler/);
  });
});
