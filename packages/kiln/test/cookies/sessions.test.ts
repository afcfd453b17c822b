import { afterEach, describe, expect, it, vi } from "vitest";
import { type KyselySessionStore, tokenHash } from "../../src/cookies/session-store.ts";
import { type KilnError, session } from "../../src/index.ts";
import { cookieApp, setCookies, type TestApp, TestJar } from "./cookie-test-app.ts";

const apps: TestApp[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const app of apps.splice(0)) await app.cleanup();
});

const DAY = 86_400_000;

/** An app with endpoints that read, write, clear and regenerate the session. */
function app(config: Parameters<typeof cookieApp>[0] = {}, dataDir?: string): TestApp {
  const a = cookieApp(config, dataDir);
  apps.push(a);
  a.httpEndpoint("/put/:key/:value", ({ key, value }) => {
    session.set(key, value);
    return { ...all() };
  });
  a.httpEndpoint("/read", () => all());
  a.httpEndpoint("/open", () => "no session here");
  a.httpEndpoint("/clear", () => session.clear());
  a.httpEndpoint("/login/:name", ({ name }) => {
    session.regenerate();
    session.set("user", name);
    return all();
  });
  a.httpEndpoint("/cross", { crossSiteSession: true }, () => all());
  return a;
}

function all(): Record<string, unknown> {
  return Object.fromEntries(session.keys().map((key) => [key, session.get(key)]));
}

function store(a: TestApp): KyselySessionStore {
  const service = a.services.cookies;
  if (!service) throw new Error("no cookies service");
  return service.runtime.store as KyselySessionStore;
}

const sessionCookie = (jar: TestJar) => jar.find("kiln-session.")?.[1];

describe("session", () => {
  it("keeps values between requests of one browser, and not another's", async () => {
    const a = app();
    const alice = new TestJar();
    const bob = new TestJar();
    await alice.send(a, "/_/api/put/name/alice");
    await bob.send(a, "/_/api/put/name/bob");
    await alice.send(a, "/_/api/put/theme/dark");
    expect((await alice.send(a, "/_/api/read")).json()).toEqual({ name: "alice", theme: "dark" });
    expect((await bob.send(a, "/_/api/read")).json()).toEqual({ name: "bob" });
    expect((await a.inject("/_/api/read")).json()).toEqual({});
  });

  it("creates nothing for requests that never write to it", async () => {
    const a = app();
    for (const url of ["/_/api/open", "/_/api/read"]) {
      const res = await a.inject(url);
      expect(setCookies(res)).toEqual([]);
      expect(res.headers["cache-control"]).toBeUndefined();
    }
    expect(await store(a).count()).toBe(0);
  });

  it("is an opaque HttpOnly SameSite=Lax cookie whose token is stored only as a hash", async () => {
    const a = app();
    const jar = new TestJar();
    const res = await jar.send(a, "/_/api/put/k/v");
    const [line = ""] = setCookies(res);
    expect(line).toMatch(
      /^kiln-session\.cookietest=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=2592000; HttpOnly; SameSite=Lax$/,
    );
    const token = sessionCookie(jar) ?? "";
    const ids = await store(a).ids();
    expect(ids).toEqual([tokenHash(token)]);
    expect(ids).not.toContain(token);
  });

  it("is saved only when it changed: reading sends no cookie and rewrites nothing", async () => {
    const a = app();
    const jar = new TestJar();
    await jar.send(a, "/_/api/put/k/v");
    const read = await jar.send(a, "/_/api/read");
    expect(setCookies(read)).toEqual([]);
    const sameValue = await jar.send(a, "/_/api/put/k/v");
    expect(setCookies(sameValue)).toEqual([]);
    expect(await store(a).count()).toBe(1);
  });

  it("answers with Cache-Control: no-store and nosniff whenever a session is involved", async () => {
    const a = app();
    const jar = new TestJar();
    const write = await jar.send(a, "/_/api/put/k/v");
    const read = await jar.send(a, "/_/api/read");
    const unrelated = await jar.send(a, "/_/api/open");
    for (const res of [write, read, unrelated]) {
      expect(res.headers["cache-control"]).toBe("no-store");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
    }
  });

  it("gives copies: changing a value read from it changes nothing until set", async () => {
    const a = app();
    a.httpEndpoint("/mutate", () => {
      session.set("list", [1]);
      (session.get<number[]>("list") ?? []).push(2);
      return session.get("list");
    });
    expect((await a.inject("/_/api/mutate")).json()).toEqual([1]);
  });

  it("refuses values JSON cannot hold, and deletes on undefined", async () => {
    const a = app();
    a.httpEndpoint("/bad", () => {
      session.set("gone", 1);
      session.set("gone", undefined);
      try {
        session.set("big", 10n);
      } catch (error) {
        return { code: (error as KilnError).code, has: session.has("gone") };
      }
    });
    expect((await a.inject("/_/api/bad")).json()).toEqual({
      code: "KILN_BAD_SESSION_VALUE",
      has: false,
    });
  });

  it("regenerate moves the data to a new id and kills the old one (no fixation)", async () => {
    const a = app();
    const jar = new TestJar();
    await jar.send(a, "/_/api/put/cart/3-items");
    const before = sessionCookie(jar);
    const login = await jar.send(a, "/_/api/login/alice");
    expect(login.json()).toEqual({ cart: "3-items", user: "alice" });
    const after = sessionCookie(jar);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect((await jar.send(a, "/_/api/read")).json()).toEqual({ cart: "3-items", user: "alice" });
    const attacker = await a.inject({
      url: "/_/api/read",
      headers: { cookie: `kiln-session.cookietest=${before}` },
    });
    expect(attacker.json()).toEqual({});
    expect(await store(a).count()).toBe(1);
  });

  it("never adopts a session id it did not issue", async () => {
    const a = app();
    const planted = "A".repeat(43);
    const jar = new TestJar();
    jar.cookies.set("kiln-session.cookietest", planted);
    const res = await jar.send(a, "/_/api/put/k/v");
    expect(setCookies(res)[0]).not.toContain(planted);
    expect(sessionCookie(jar)).not.toBe(planted);
    expect((await store(a).ids()).includes(tokenHash(planted))).toBe(false);
  });

  it("clear ends the session: the row is deleted and the cookie expired", async () => {
    const a = app();
    const jar = new TestJar();
    await jar.send(a, "/_/api/put/k/v");
    const token = sessionCookie(jar) ?? "";
    const res = await jar.send(a, "/_/api/clear");
    expect(setCookies(res)[0]).toMatch(/^kiln-session\.cookietest=; Path=\/; Max-Age=0;/);
    expect(await store(a).count()).toBe(0);
    const replay = await a.inject({
      url: "/_/api/read",
      headers: { cookie: `kiln-session.cookietest=${token}` },
    });
    expect(replay.json()).toEqual({});
  });

  it("ends after the idle time without use, and is kept alive by use", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const a = app({ services: { sessions: { idleDays: 2, absoluteDays: 30 } } });
    const jar = new TestJar();
    await jar.send(a, "/_/api/put/k/v");
    for (let day = 0; day < 5; day++) {
      vi.setSystemTime(Date.now() + 1.5 * DAY);
      expect((await jar.send(a, "/_/api/read")).json()).toEqual({ k: "v" });
    }
    vi.setSystemTime(Date.now() + 2 * DAY + 1000);
    expect((await jar.send(a, "/_/api/read")).json()).toEqual({});
  });

  it("ends at the absolute limit however busy it is", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const a = app({ services: { sessions: { idleDays: 2, absoluteDays: 5 } } });
    const jar = new TestJar();
    await jar.send(a, "/_/api/put/k/v");
    for (let day = 0; day < 4; day++) {
      vi.setSystemTime(Date.now() + DAY);
      expect((await jar.send(a, `/_/api/put/day/${day}`)).json()).toMatchObject({ k: "v" });
    }
    vi.setSystemTime(Date.now() + DAY + 1000);
    expect((await jar.send(a, "/_/api/read")).json()).toEqual({});
  });

  it("a stale session cookie is expired in the browser", async () => {
    const a = app();
    const res = await a.inject({
      url: "/_/api/read",
      headers: { cookie: `kiln-session.cookietest=${"B".repeat(43)}` },
    });
    expect(setCookies(res)[0]).toMatch(/^kiln-session\.cookietest=; Path=\/; Max-Age=0;/);
  });

  it("cleanup deletes expired rows", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const a = app({ services: { sessions: { idleDays: 1 } } });
    await new TestJar().send(a, "/_/api/put/k/1");
    await new TestJar().send(a, "/_/api/put/k/2");
    vi.setSystemTime(Date.now() + 0.5 * DAY);
    await new TestJar().send(a, "/_/api/put/k/3");
    vi.setSystemTime(Date.now() + 0.6 * DAY);
    const service = a.services.cookies;
    expect(await service?.cleanupSessions()).toBe(2);
    expect(await store(a).count()).toBe(1);
  });

  it("is shared by every process using the same database", async () => {
    const first = app();
    const second = app({}, first.dataDir);
    const jar = new TestJar();
    await jar.send(first, "/_/api/put/who/first");
    expect((await jar.send(second, "/_/api/read")).json()).toEqual({ who: "first" });
    await jar.send(second, "/_/api/clear");
    expect((await jar.send(first, "/_/api/read")).json()).toEqual({});
  });

  it("a slow request's save does not undo a logout that happened meanwhile", async () => {
    const a = app();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    a.httpEndpoint("/slow", async () => {
      await gate;
      session.set("late", "write");
      return all();
    });
    const jar = new TestJar();
    await jar.send(a, "/_/api/put/user/alice");
    const cookie = jar.header ?? "";
    const slow = a.inject({ url: "/_/api/slow", headers: { cookie } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await jar.send(a, "/_/api/clear");
    release();
    expect((await slow).json()).toEqual({ user: "alice", late: "write" });
    expect(await store(a).count()).toBe(0);
    const replay = await a.inject({ url: "/_/api/read", headers: { cookie } });
    expect(replay.json()).toEqual({});
  });

  it("works only inside a request", () => {
    expect(() => session.get("x")).toThrowError(
      expect.objectContaining({ code: "KILN_NO_REQUEST" }),
    );
  });

  it("rejects a bad idle time in the config", async () => {
    const a = app({ services: { sessions: { idleDays: -1 } } });
    await expect(a.ready()).rejects.toThrowError(/services\.sessions\.idleDays/);
  });
});
