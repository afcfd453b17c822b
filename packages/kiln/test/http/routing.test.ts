import { afterEach, describe, expect, it } from "vitest";
import { createApp, httpEndpoint, KilnError } from "../../src/index.ts";
import { testApp } from "./test-app.ts";

let app: ReturnType<typeof testApp>;
afterEach(() => app?.cleanup());

describe("paths and URL parameters", () => {
  it("serves endpoints under /_/api by default", async () => {
    app = testApp();
    app.httpEndpoint("/hello", () => ({ "the answer is": 42 }));
    const res = await app.inject({ url: "/_/api/hello" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ "the answer is": 42 });
    expect((await app.inject({ url: "/hello" })).statusCode).toBe(404);
  });

  it("honours api.prefix, including an empty one", async () => {
    app = testApp({ api: { prefix: "/v1" } });
    app.httpEndpoint("/hello", () => "hi");
    expect((await app.inject({ url: "/v1/hello" })).body).toBe("hi");
    await app.cleanup();

    app = testApp({ api: { prefix: "" } });
    app.httpEndpoint("/hello", () => "hi");
    app.httpEndpoint("", () => "root");
    expect((await app.inject({ url: "/hello" })).body).toBe("hi");
    expect((await app.inject({ url: "/" })).body).toBe("root");
  });

  it("percent-decodes URL parameters before the handler sees them", async () => {
    app = testApp();
    app.httpEndpoint("/tasks/:id", ({ id }) => ({ id }));
    const res = await app.inject({ url: "/_/api/tasks/%5B23%2C567%5D" });
    expect(res.json()).toEqual({ id: "[23,567]" });
    const unicode = await app.inject({ url: "/_/api/tasks/caf%C3%A9%20cr%C3%A8me" });
    expect(unicode.json()).toEqual({ id: "café crème" });
  });

  it("decodes an encoded slash inside a parameter instead of splitting on it", async () => {
    app = testApp();
    app.httpEndpoint("/files/:name", ({ name }) => name);
    const res = await app.inject({ url: "/_/api/files/a%2Fb" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe("a/b");
  });

  it("gives several URL parameters by name", async () => {
    app = testApp();
    app.httpEndpoint("/users/:user/tasks/:task", (params) => params);
    const res = await app.inject({ url: "/_/api/users/7/tasks/9" });
    expect(res.json()).toEqual({ user: "7", task: "9" });
  });

  it("a final :name* parameter catches the rest of the path", async () => {
    app = testApp();
    app.httpEndpoint("/files/:rest*", ({ rest }) => ({ rest }));
    expect((await app.inject({ url: "/_/api/files/a/b/c.txt" })).json()).toEqual({
      rest: "a/b/c.txt",
    });
    expect((await app.inject({ url: "/_/api/files/x%20y" })).json()).toEqual({ rest: "x y" });
    // Documented: the catch-all matches one character or more (a trailing slash is ignored).
    expect((await app.inject({ url: "/_/api/files/" })).statusCode).toBe(404);
  });

  it("a malformed percent-encoding is a 400, not a 500", async () => {
    app = testApp();
    app.httpEndpoint("/tasks/:id", ({ id }) => id);
    const res = await app.inject({ url: "/_/api/tasks/%E0%A4%A" });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/percent-encoding|malformed/i);
  });

  it("an unknown path is a 404 with a JSON error", async () => {
    app = testApp();
    app.httpEndpoint("/hello", () => "hi");
    const res = await app.inject({ url: "/_/api/nope?x=1" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: "No endpoint at GET /_/api/nope" });
  });

  it("accepts a trailing slash", async () => {
    app = testApp();
    app.httpEndpoint("/hello", () => "hi");
    expect((await app.inject({ url: "/_/api/hello/" })).body).toBe("hi");
  });
});

describe("methods", () => {
  it("allows GET and POST by default", async () => {
    app = testApp();
    app.httpEndpoint("/echo", () => "ok");
    expect((await app.inject({ method: "GET", url: "/_/api/echo" })).statusCode).toBe(200);
    expect((await app.inject({ method: "POST", url: "/_/api/echo" })).statusCode).toBe(200);
    const put = await app.inject({ method: "PUT", url: "/_/api/echo" });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe("GET, POST, HEAD");
    expect(put.json().error).toMatch(/not allowed/i);
  });

  it("answers 405 with Allow for every method outside options.methods", async () => {
    app = testApp();
    app.httpEndpoint("/tasks/:id", { methods: ["PUT", "DELETE"] }, () => "done");
    for (const method of ["GET", "POST", "PATCH", "OPTIONS", "HEAD"] as const) {
      const res = await app.inject({ method, url: "/_/api/tasks/1" });
      expect(res.statusCode, method).toBe(405);
      expect(res.headers.allow, method).toBe("PUT, DELETE");
    }
    expect((await app.inject({ method: "DELETE", url: "/_/api/tasks/1" })).body).toBe("done");
    expect((await app.inject({ method: "PUT", url: "/_/api/tasks/1" })).body).toBe("done");
  });

  it("HEAD follows GET: same status and headers, no body", async () => {
    app = testApp();
    let calls = 0;
    app.httpEndpoint("/hello", { methods: ["GET"] }, () => {
      calls++;
      return { hello: "world" };
    });
    const get = await app.inject({ method: "GET", url: "/_/api/hello" });
    const head = await app.inject({ method: "HEAD", url: "/_/api/hello" });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe("");
    expect(head.headers["content-type"]).toBe(get.headers["content-type"]);
    expect(head.headers["content-length"]).toBe(get.headers["content-length"]);
    expect(calls).toBe(2);
  });

  it("the handler can tell the method apart", async () => {
    app = testApp();
    app.httpEndpoint("/m", { methods: ["GET", "PATCH"] }, async () => {
      const { request } = await import("../../src/index.ts");
      return request.method;
    });
    expect((await app.inject({ method: "PATCH", url: "/_/api/m" })).body).toBe("PATCH");
  });

  it("refuses an unknown method name at registration", () => {
    app = testApp();
    expect(() =>
      // @ts-expect-error "FETCH" is not an HTTP method Kiln knows
      app.httpEndpoint("/x", { methods: ["FETCH"] }, () => null),
    ).toThrow(/unknown method FETCH/);
  });
});

describe("registration", () => {
  it("refuses a path without a leading slash", () => {
    app = testApp();
    let error: unknown;
    try {
      app.httpEndpoint("tasks", () => null);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KilnError);
    expect((error as KilnError).code).toBe("KILN_BAD_ENDPOINT");
  });

  it("refuses two endpoints for the same method and path, naming both", async () => {
    app = testApp();
    app.httpEndpoint("/twice", function first() {
      return 1;
    });
    app.httpEndpoint("/twice", { methods: ["POST", "PUT"] }, function second() {
      return 2;
    });
    await expect(app.ready()).rejects.toMatchObject({
      code: "KILN_DUPLICATE_ENDPOINT",
      message: expect.stringMatching(
        /POST \/twice: httpEndpoint\("\/twice", \{ methods: \["GET","POST"\] \}\) \(handler first\) and httpEndpoint\("\/twice", \{ methods: \["POST","PUT"\] \}\) \(handler second\)/,
      ),
    });
  });

  it("gives each method of a path its own handler, and 405 + Allow lists them all", async () => {
    app = testApp();
    app.httpEndpoint("/tasks/:id", { methods: ["GET"] }, ({ id }) => ({ get: id }));
    app.httpEndpoint("/tasks/:id", { methods: ["PUT", "DELETE"] }, (_, { params }) => ({
      changed: params.id,
    }));
    expect((await app.inject({ url: "/_/api/tasks/7" })).json()).toEqual({ get: "7" });
    const put = await app.inject({ method: "PUT", url: "/_/api/tasks/7" });
    expect(put.json()).toEqual({ changed: "7" });
    expect((await app.inject({ method: "HEAD", url: "/_/api/tasks/7" })).statusCode).toBe(200);
    const post = await app.inject({ method: "POST", url: "/_/api/tasks/7" });
    expect(post.statusCode).toBe(405);
    expect(post.headers.allow).toBe("GET, PUT, DELETE, HEAD");
    const options = await app.inject({ method: "OPTIONS", url: "/_/api/tasks/7" });
    expect(options.statusCode).toBe(405);
  });

  it("refuses an endpoint added after the app started", async () => {
    app = testApp();
    await app.ready();
    expect(() => app.httpEndpoint("/late", () => null)).toThrow(/after the app started/);
  });

  it("the top-level httpEndpoint outside a loading app folder is refused, naming what to use", async () => {
    expect(() => httpEndpoint("/top", () => "from the top level")).toThrow(
      expect.objectContaining({
        code: "KILN_NO_APP",
        message: expect.stringMatching(
          /httpEndpoint\("\/top"\).*server\/ folder.*app\.httpEndpoint/,
        ),
      }),
    );
    // Nothing was kept for a later app either.
    const first = createApp({ name: "first", logger: false });
    try {
      expect((await first.inject({ url: "/_/api/top" })).statusCode).toBe(404);
    } finally {
      await first.close();
    }
  });
});

describe("GET /_/health", () => {
  it("answers 200 when the app is healthy", async () => {
    app = testApp();
    const res = await app.inject({ url: "/_/health" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
  });
});
