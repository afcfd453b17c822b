/*
 * A handler's context is bound to its own request: `ctx.request`, `ctx.session`, `ctx.cookies`
 * and `ctx.users` work without AsyncLocalStorage, so that the pipeline may skip it for apps
 * that never import the ambient views. Each handler here uses its context from code run
 * OUTSIDE the request's async context (`outside`, a snapshot taken at module load, when no
 * request is being handled), which is what a handler sees once AsyncLocalStorage is skipped;
 * the effects are checked over real HTTP, on the next request.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { type AuthScheme, request, session } from "../../src/index.ts";
import { form, type HttpAnswer, send } from "../users/http-client.ts";
import { type UsersTestApp, usersApp } from "../users/users-test-app.ts";

/** Runs fn in the async context of module load: no request there, for AsyncLocalStorage. */
const outside = AsyncLocalStorage.snapshot();

const ADA = "ada@example.com";
const PW = "correct horse";

let app: UsersTestApp | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

/** What an ambient view does when called: its value, or the code of what it threw. */
function attempt(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** A browser's cookies: keeps what Set-Cookie says (dropping expired ones) and sends them. */
class Jar {
  readonly #cookies = new Map<string, string>();

  send(url: string, options: Parameters<typeof send>[1] = {}): Promise<HttpAnswer> {
    const headers = { ...options.headers };
    if (this.#cookies.size > 0) {
      headers.cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    }
    return send(url, { ...options, headers }).then((answer) => this.#take(answer));
  }

  post(url: string, fields: Record<string, string> = {}): Promise<HttpAnswer> {
    const body = form(fields);
    return this.send(url, { method: "POST", headers: body.headers, body: body.body });
  }

  #take(answer: HttpAnswer): HttpAnswer {
    const lines = answer.headers["set-cookie"] ?? [];
    for (const line of Array.isArray(lines) ? lines : [lines]) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      if (/Max-Age=0(;|$)/i.test(line)) this.#cookies.delete(pair.slice(0, eq));
      else this.#cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return answer;
  }
}

async function start(): Promise<string> {
  app = usersApp();
  const a = app;

  a.httpEndpoint("/probe", (_, ctx) =>
    outside(() => ({
      // The premise: out here, the importable views see no request.
      ambientRequest: attempt(() => request.path),
      ambientSession: attempt(() => session.get("x")),
      method: ctx.request.method,
      path: ctx.request.path,
      url: ctx.request.url,
      q: ctx.request.queryParams.q,
      agent: ctx.request.headers["user-agent"],
    })),
  );

  a.httpEndpoint("/remember", { methods: ["POST"] }, ({ color }, ctx) =>
    outside(() => {
      ctx.session.set("color", color);
      ctx.cookies.local.set("theme", `${color}-theme`);
      return { ok: true };
    }),
  );
  a.httpEndpoint("/recall", (_, ctx) =>
    outside(() => ({
      color: ctx.session.get("color") ?? null,
      theme: ctx.cookies.local.get("theme") ?? null,
    })),
  );

  a.httpEndpoint("/signup", { methods: ["POST"] }, ({ email, password }, ctx) =>
    outside(async () => {
      // Past awaits and timers, still outside: the users API keeps the request it was given.
      await new Promise((resolve) => setTimeout(resolve, 1));
      const user = await ctx.users.signupWithEmail(email ?? "", password ?? "");
      await new Promise((resolve) => setImmediate(resolve));
      return { signedUp: user.email, now: ctx.users.getUser()?.email ?? null };
    }),
  );
  a.httpEndpoint("/login", { methods: ["POST"] }, ({ email, password }, ctx) =>
    outside(() =>
      Promise.resolve()
        .then(() => ctx.users.loginWithEmail(email ?? "", password ?? ""))
        .then((user) => ({ loggedIn: user.email })),
    ),
  );
  a.httpEndpoint("/logout", { methods: ["POST"] }, (_, ctx) =>
    outside(() => {
      ctx.users.logout();
      return { ok: true };
    }),
  );
  a.httpEndpoint("/me", (_, ctx) =>
    outside(async () => ({
      user: ctx.users.getUser()?.email ?? null,
      loaded: (await ctx.users.loadUser())?.email ?? null,
    })),
  );

  // An app's own credential checks get a request bound to theirs too.
  const apiKey: AuthScheme = {
    scheme: "Token",
    check: (key, req) => outside(() => key === "k1" && { key, path: req.path }),
  };
  a.httpEndpoint("/by-token", { requireAuth: apiKey }, (_, ctx) => ({
    principal: ctx.request.user,
  }));
  a.httpEndpoint(
    "/by-basic",
    {
      requireAuth: (username, password, req) =>
        outside(() => username === "ops" && password === "pw" && { ops: req.headers["x-ops"] }),
    },
    (_, ctx) => ({ principal: ctx.request.user }),
  );

  return `${await a.listen({ host: "127.0.0.1", port: 0 })}/_/api`;
}

describe("a handler's context without AsyncLocalStorage", () => {
  it("reads its request", async () => {
    const base = await start();
    const answer = await send(`${base}/probe?q=kiln`, { headers: { "user-agent": "probe/1" } });
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({
      ambientRequest: "KILN_NO_REQUEST",
      ambientSession: "KILN_NO_REQUEST",
      method: "GET",
      path: "/_/api/probe",
      url: `${base}/probe?q=kiln`,
      q: "kiln",
      agent: "probe/1",
    });
  });

  it("keeps its session and encrypted cookies", async () => {
    const base = await start();
    const browser = new Jar();
    expect((await browser.post(`${base}/remember`, { color: "teal" })).status).toBe(200);
    expect((await browser.send(`${base}/recall`)).json()).toEqual({
      color: "teal",
      theme: "teal-theme",
    });
    // Another browser has neither.
    expect((await new Jar().send(`${base}/recall`)).json()).toEqual({ color: null, theme: null });
  });

  it("signs up, logs in and out through ctx.users, past awaits", async () => {
    const base = await start();
    const browser = new Jar();
    const signup = await browser.post(`${base}/signup`, { email: ADA, password: PW });
    expect(signup.json()).toEqual({ signedUp: ADA, now: ADA });
    expect((await browser.send(`${base}/me`)).json()).toEqual({ user: ADA, loaded: ADA });

    expect((await browser.post(`${base}/logout`)).status).toBe(200);
    expect((await browser.send(`${base}/me`)).json()).toEqual({ user: null, loaded: null });

    const login = await browser.post(`${base}/login`, { email: ADA, password: PW });
    expect(login.json()).toEqual({ loggedIn: ADA });
    expect((await browser.send(`${base}/me`)).json()).toEqual({ user: ADA, loaded: ADA });
  });

  it("hands an app's credential checks their request", async () => {
    const base = await start();
    const token = await send(`${base}/by-token`, { headers: { authorization: "Token k1" } });
    expect(token.json()).toEqual({ principal: { key: "k1", path: "/_/api/by-token" } });
    const ops = `Basic ${Buffer.from("ops:pw").toString("base64")}`;
    const basic = await send(`${base}/by-basic`, {
      headers: { authorization: ops, "x-ops": "night shift" },
    });
    expect(basic.json()).toEqual({ principal: { ops: "night shift" } });
  });
});
