/*
 * The handler's second argument: the request's context, typed for its endpoint. The type
 * assertions are checked by tsc (`npx tsc -p packages/kiln`, test/ is included): a wrong type
 * or an unused `@ts-expect-error` fails the type check; the runtime half runs in Vitest.
 */
import type { Logger } from "pino";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import type {
  HandlerContext,
  KeywordParams,
  KilnApp,
  KilnRequest,
  Session,
  TablesAccessor,
  UserRow,
  Users,
} from "../../src/index.ts";
import { basic, type UsersTestApp, usersApp } from "../users/users-test-app.ts";

let app: UsersTestApp | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

const Task = z.object({ title: z.string(), done: z.boolean().default(false) });
const Paging = z.object({ page: z.coerce.number().int().default(1) });
const IdParams = z.object({ id: z.coerce.number().int() });

/** Registers endpoints whose handlers only check types (they are never called). */
function typesOnly(a: KilnApp): void {
  a.httpEndpoint("/tasks/:id/notes/:note", (params, ctx) => {
    expectTypeOf(params.id).toEqualTypeOf<string>();
    expectTypeOf(ctx.params).toEqualTypeOf<{ id: string; note: string }>();
    expectTypeOf(ctx.query).toEqualTypeOf<KeywordParams>();
    expectTypeOf(ctx.body).toEqualTypeOf<unknown>();
    expectTypeOf(ctx.user).toEqualTypeOf<UserRow | null>();
    expectTypeOf(ctx.request).toEqualTypeOf<KilnRequest>();
    expectTypeOf(ctx.tables).toEqualTypeOf<TablesAccessor>();
    expectTypeOf(ctx.users).toEqualTypeOf<Users>();
    expectTypeOf(ctx.session).toEqualTypeOf<Session>();
    expectTypeOf(ctx.app).toEqualTypeOf<KilnApp>();
    expectTypeOf(ctx.log).toEqualTypeOf<Logger>();
    // @ts-expect-error: the path has no :other parameter
    ctx.params.other;
    // @ts-expect-error: a context's parts are read-only
    ctx.user = null;
  });
  a.httpEndpoint(
    "/tasks/:id",
    { methods: ["PUT"], body: Task, query: Paging, params: IdParams },
    (_, { body, query, params }) => {
      expectTypeOf(body).toEqualTypeOf<{ title: string; done: boolean }>();
      expectTypeOf(query).toEqualTypeOf<{ page: number }>();
      expectTypeOf(params).toEqualTypeOf<{ id: number }>();
    },
  );
  a.httpEndpoint("/mine", { authenticateUsers: true }, (_, { user }) => {
    expectTypeOf(user).toEqualTypeOf<UserRow>();
    return user.email;
  });
  a.httpEndpoint("/maybe", { authenticateUsers: false }, (_, { user }) => {
    expectTypeOf(user).toEqualTypeOf<UserRow | null>();
    // @ts-expect-error: without authenticateUsers there may be nobody
    return user.email;
  });
  const auth = { authenticateUsers: true } as const;
  a.httpEndpoint("/spread", { ...auth, methods: ["POST"] }, (_, { user }) => {
    expectTypeOf(user).toEqualTypeOf<UserRow>();
  });
  // The context type is public, for functions a handler hands its context to.
  const ownerOf = (ctx: HandlerContext<"/x", undefined, undefined, undefined, true>) =>
    ctx.user.email;
  expectTypeOf(ownerOf).returns.toEqualTypeOf<string | null>();
}

describe("the handler context", () => {
  it("type checks (see tsc); registering typed handlers is accepted at run time", async () => {
    app = usersApp();
    typesOnly(app);
    await app.ready();
  });

  it("gives body, query, params, user, tables, users, session, cookies, app and log", async () => {
    app = usersApp({ tables: { notes: { text: "text" } } });
    const made = app;
    made.httpEndpoint(
      "/notes/:id",
      { methods: ["POST"], authenticateUsers: true, body: z.object({ text: z.string() }) },
      async (params, ctx) => {
        const note = await ctx.tables.notes.addRow({ text: ctx.body.text });
        ctx.session.set("last", note.id);
        ctx.cookies.local.set("seen", true);
        ctx.log.info({ note: note.id }, "added");
        return {
          first: params.id,
          params: ctx.params,
          query: ctx.query.q ?? null,
          user: ctx.user.email,
          same: ctx.user === (await ctx.users.loadUser()),
          method: ctx.request.method,
          app: ctx.app === made,
          count: await ctx.tables.notes.search().count(),
        };
      },
    );
    await made.ready();
    await made.users.addUser("ada@example.com", "correct horse");
    const res = await made.inject({
      method: "POST",
      url: "/_/api/notes/7?q=find",
      headers: basic("ada@example.com", "correct horse"),
      payload: { text: "hello" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      first: "7",
      params: { id: "7" },
      query: "find",
      user: "ada@example.com",
      same: true,
      method: "POST",
      app: true,
      count: 1,
    });
    // The session and the cookie were both written.
    const lines = [res.headers["set-cookie"]].flat().join("\n");
    expect(lines).toMatch(/^kiln-session\.test=/m);
    expect(lines).toMatch(/^kiln\.test\.seen=/m);
  });

  it("keeps `(params, { body })` working, and a handler that ignores it costs nothing more", async () => {
    app = usersApp();
    app.httpEndpoint("/echo", { methods: ["POST"] }, (_, { body }) => body);
    app.httpEndpoint("/hello", () => "hi");
    const echo = await app.inject({ method: "POST", url: "/_/api/echo", payload: { a: 1 } });
    expect(echo.json()).toEqual({ a: 1 });
    expect((await app.inject({ url: "/_/api/hello" })).body).toBe("hi");
  });
});
