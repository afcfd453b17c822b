import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { request, type StandardSchemaV1 } from "../../src/index.ts";
import { testApp } from "./test-app.ts";

let app: ReturnType<typeof testApp>;
afterEach(() => app?.cleanup());

const NewTask = z.object({ title: z.string().min(1), done: z.boolean().default(false) });

describe("request validation (Standard Schema)", () => {
  it("a valid JSON body reaches the handler parsed and typed", async () => {
    app = testApp();
    app.httpEndpoint("/tasks", { methods: ["POST"], body: NewTask }, (_params, { body }) => {
      expectTypeOf(body).toEqualTypeOf<{ title: string; done: boolean }>();
      return { title: body.title.toUpperCase(), done: body.done };
    });
    const res = await app.inject({ method: "POST", url: "/_/api/tasks", payload: { title: "a" } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ title: "A", done: false });
  });

  it("an invalid body is a 400 that lists each problem with its path", async () => {
    app = testApp();
    let ran = false;
    app.httpEndpoint(
      "/tasks",
      { body: z.object({ title: z.string(), tags: z.array(z.string()), n: z.number().int() }) },
      () => {
        ran = true;
      },
    );
    const res = await app.inject({
      method: "POST",
      url: "/_/api/tasks",
      payload: { tags: ["ok", 5], n: 1.5 },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error).toBe("Invalid request body");
    expect(body.problems.map((p: { path: string }) => p.path).sort()).toEqual([
      "body.n",
      "body.tags.1",
      "body.title",
    ]);
    for (const problem of body.problems) expect(problem.message).toBeTypeOf("string");
    expect(ran).toBe(false);
  });

  it("a missing body checked by a schema is a 400 at path 'body'", async () => {
    app = testApp();
    app.httpEndpoint("/tasks", { body: NewTask }, () => "ran");
    const res = await app.inject({ method: "POST", url: "/_/api/tasks" });
    expect(res.statusCode).toBe(400);
    expect(res.json().problems).toEqual([{ path: "body", message: expect.any(String) }]);
  });

  it("a request without a JSON body reaches an optional body schema as undefined (a GET passes)", async () => {
    app = testApp();
    const seen: unknown[] = [];
    app.httpEndpoint(
      "/search",
      { body: z.object({ filter: z.string() }).optional() },
      (_params, { body }) => {
        expectTypeOf(body).toEqualTypeOf<{ filter: string } | undefined>();
        seen.push(body);
        return { filter: body?.filter ?? "all", bodyJson: request.bodyJson };
      },
    );
    const url = `${await app.listen({ port: 0 })}/_/api/search`;
    const get = await fetch(url);
    expect(get.status).toBe(200);
    // request.bodyJson keeps reading null when there is no JSON body, as documented.
    expect(await get.json()).toEqual({ filter: "all", bodyJson: null });
    const form = await fetch(url, { method: "POST", body: new URLSearchParams({ a: "1" }) });
    expect(await form.json()).toEqual({ filter: "all", bodyJson: null });
    const json = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ filter: "mine" }),
    });
    expect(await json.json()).toEqual({ filter: "mine", bodyJson: { filter: "mine" } });
    // A JSON body that is literally null is sent on as null, and the schema refuses it.
    const literalNull = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "null",
    });
    expect(literalNull.status).toBe(400);
    expect(seen).toEqual([undefined, undefined, { filter: "mine" }]);
  });

  it("a query schema validates and converts the keyword parameters", async () => {
    app = testApp();
    const Query = z.object({ limit: z.coerce.number().int().max(100), q: z.string().optional() });
    app.httpEndpoint("/search", { query: Query }, ({ limit, q }) => {
      expectTypeOf(limit).toEqualTypeOf<number>();
      expectTypeOf(q).toEqualTypeOf<string | undefined>();
      return { limit, q: q ?? null };
    });
    const ok = await app.inject({ url: "/_/api/search?limit=10" });
    expect(ok.json()).toEqual({ limit: 10, q: null });

    const bad = await app.inject({ url: "/_/api/search?limit=1000" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({
      error: "Invalid request query",
      problems: [{ path: "query.limit" }],
    });
  });

  it("the query schema sees form fields too (they are keyword parameters)", async () => {
    app = testApp();
    app.httpEndpoint("/form", { query: z.object({ title: z.string().min(3) }) }, ({ title }) => ({
      title,
    }));
    const res = await app.inject({
      method: "POST",
      url: "/_/api/form",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "title=ab",
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().problems[0].path).toBe("query.title");
  });

  it("a params schema validates and converts URL parameters", async () => {
    app = testApp();
    app.httpEndpoint("/tasks/:id", { params: z.object({ id: z.coerce.number().int() }) }, (p) => {
      expectTypeOf(p.id).toEqualTypeOf<number>();
      return { id: p.id, next: p.id + 1 };
    });
    expect((await app.inject({ url: "/_/api/tasks/41" })).json()).toEqual({ id: 41, next: 42 });
    const bad = await app.inject({ url: "/_/api/tasks/abc" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ problems: [{ path: "params.id" }] });
  });

  it("URL parameters survive a query schema that strips unknown keys", async () => {
    app = testApp();
    app.httpEndpoint(
      "/tasks/:id",
      { query: z.object({ verbose: z.string().optional() }) },
      (p) => p,
    );
    const res = await app.inject({ url: "/_/api/tasks/7?verbose=1&junk=x" });
    expect(res.json()).toEqual({ id: "7", verbose: "1" });
  });

  it("problems from query and body are reported one part at a time, query first", async () => {
    app = testApp();
    app.httpEndpoint(
      "/both",
      { query: z.object({ page: z.coerce.number() }), body: NewTask },
      () => "ran",
    );
    const res = await app.inject({ method: "POST", url: "/_/api/both?page=x", payload: {} });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe("Invalid request query");
  });

  it("accepts any Standard Schema, including an asynchronous one", async () => {
    const evenLength: StandardSchemaV1<unknown, string> = {
      "~standard": {
        version: 1,
        vendor: "handmade",
        validate: async (value) =>
          typeof value === "string" && value.length % 2 === 0
            ? { value }
            : { issues: [{ message: "must be a string of even length", path: [{ key: "x" }] }] },
      },
    };
    app = testApp();
    app.httpEndpoint("/even", { body: evenLength }, (_p, { body }) => {
      expectTypeOf(body).toEqualTypeOf<string>();
      return body;
    });
    expect(
      (
        await app.inject({
          method: "POST",
          url: "/_/api/even",
          payload: '"ab"',
          headers: { "content-type": "application/json" },
        })
      ).body,
    ).toBe("ab");
    const bad = await app.inject({
      method: "POST",
      url: "/_/api/even",
      headers: { "content-type": "application/json" },
      payload: '"abc"',
    });
    expect(bad.json()).toEqual({
      error: "Invalid request body",
      problems: [{ path: "body.x", message: "must be a string of even length" }],
    });
  });
});

describe("handler types", () => {
  it("without schemas, URL parameters are typed from the path and the rest are optional strings", () => {
    app = testApp();
    app.httpEndpoint("/users/:user/files/:rest*", (params, { body }) => {
      expectTypeOf(params.user).toEqualTypeOf<string>();
      expectTypeOf(params.rest).toEqualTypeOf<string>();
      expectTypeOf(params.other).toEqualTypeOf<string | undefined>();
      expectTypeOf(body).toEqualTypeOf<unknown>();
      return null;
    });
  });

  it("misuse is a compile-time error (checked by tsc)", () => {
    app = testApp();
    app.httpEndpoint("/tasks", { body: NewTask }, (_params, { body }) => {
      // @ts-expect-error `title` is a string, not a number
      const n: number = body.title;
      // @ts-expect-error the schema has no `priority`
      void body.priority;
      return n;
    });
    app.httpEndpoint("/tasks/:id", { params: z.object({ id: z.coerce.number() }) }, ({ id }) => {
      // @ts-expect-error `id` was converted to a number by the params schema
      id.toUpperCase?.();
      return id;
    });
    // @ts-expect-error a body schema must be a Standard Schema, not a plain object
    app.httpEndpoint("/bad", { body: { title: "string" } }, () => null);
    expect(app.endpoints).toHaveLength(3);
  });
});
