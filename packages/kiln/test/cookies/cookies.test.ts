import { afterEach, describe, expect, it, vi } from "vitest";
import { cookies, HttpResponse, type KilnError } from "../../src/index.ts";
import { cookieApp, setCookies, type TestApp, TestJar } from "./cookie-test-app.ts";

const apps: TestApp[] = [];
afterEach(async () => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
  for (const app of apps.splice(0)) await app.cleanup();
});

/** An app with endpoints to set, read and delete local and shared cookies. */
function app(config: Parameters<typeof cookieApp>[0] = {}, dataDir?: string): TestApp {
  const a = cookieApp(config, dataDir);
  apps.push(a);
  a.httpEndpoint("/set/:scope/:name", ({ scope, name, value, days }) => {
    const family = scope === "shared" ? cookies.shared : cookies.local;
    family.set(name, JSON.parse(value ?? "null"), days ? { maxAge: Number(days) } : {});
    return { readBack: family.get(name) ?? "absent" };
  });
  a.httpEndpoint("/get/:scope/:name", ({ scope, name }) => {
    const family = scope === "shared" ? cookies.shared : cookies.local;
    return { value: family.get(name) ?? "absent" };
  });
  a.httpEndpoint("/delete/:name", ({ name }) => {
    cookies.local.delete(name);
    return { afterDelete: cookies.local.get(name) ?? "absent" };
  });
  return a;
}

const value = (v: unknown) => encodeURIComponent(JSON.stringify(v));
const SHARED = "a-shared-secret-for-tests-0123456789";

describe("cookies.local", () => {
  it("round-trips JSON values between requests, and a handler reads its own writes", async () => {
    const a = app();
    const jar = new TestJar();
    const prefs = { theme: "dark", sizes: [1, 2], nested: { ok: true } };
    const set = await jar.send(a, `/_/api/set/local/prefs?value=${value(prefs)}`);
    expect(set.json()).toEqual({ readBack: prefs });
    expect((await jar.send(a, "/_/api/get/local/prefs")).json()).toEqual({ value: prefs });
    await jar.send(a, `/_/api/set/local/count?value=${value(42)}`);
    expect((await jar.send(a, "/_/api/get/local/count")).json()).toEqual({ value: 42 });
    expect((await jar.send(a, "/_/api/get/local/missing")).json()).toEqual({ value: "absent" });
  });

  it("are HttpOnly, SameSite=Lax, Path=/, 30 days by default or maxAge days, and encrypted", async () => {
    const a = app();
    const plain = await a.inject(`/_/api/set/local/prefs?value=${value("visible-text")}`);
    const [line = ""] = setCookies(plain);
    expect(line).toMatch(/^kiln\.cookietest\.prefs=[A-Za-z0-9_-]+; /);
    expect(line).toContain("; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax");
    expect(line).not.toContain("Secure");
    expect(line).not.toContain("visible-text");
    const week = await a.inject(`/_/api/set/local/prefs?value=1&days=7`);
    expect(setCookies(week)[0]).toContain("Max-Age=604800");
  });

  it("are Secure behind HTTPS, trusting X-Forwarded-Proto only with trustProxy", async () => {
    const untrusting = app();
    const ignored = await untrusting.inject({
      url: "/_/api/set/local/a?value=1",
      headers: { "x-forwarded-proto": "https" },
    });
    expect(setCookies(ignored)[0]).not.toContain("Secure");
    const trusting = app({ trustProxy: true });
    const behindProxy = await trusting.inject({
      url: "/_/api/set/local/a?value=1",
      headers: { "x-forwarded-proto": "https" },
    });
    expect(setCookies(behindProxy)[0]).toMatch(/; Secure$/);
  });

  it("delete expires the cookie in the browser and at once in the handler", async () => {
    const a = app();
    const jar = new TestJar();
    await jar.send(a, `/_/api/set/local/prefs?value=1`);
    const deleted = await jar.send(a, "/_/api/delete/prefs");
    expect(deleted.json()).toEqual({ afterDelete: "absent" });
    expect(setCookies(deleted)[0]).toMatch(/^kiln\.cookietest\.prefs=; Path=\/; Max-Age=0;/);
    expect(jar.cookies.size).toBe(0);
  });

  it("read a tampered or truncated cookie as absent, never as an error", async () => {
    const a = app();
    const jar = new TestJar();
    await jar.send(a, `/_/api/set/local/role?value=${value("user")}`);
    const [name, sealed] = jar.find("kiln.cookietest.role") ?? ["", ""];
    const flipped = sealed.slice(0, 20) + (sealed[20] === "A" ? "B" : "A") + sealed.slice(21);
    for (const bad of [flipped, sealed.slice(0, -3), "", "garbage", `"${sealed}x"`]) {
      const res = await a.inject({
        url: "/_/api/get/local/role",
        headers: { cookie: `${name}=${bad}` },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ value: "absent" });
    }
  });

  it("read a value replayed under another cookie name as absent", async () => {
    const a = app();
    const jar = new TestJar();
    await jar.send(a, `/_/api/set/local/role?value=${value("user")}`);
    const [, sealed] = jar.find("kiln.cookietest.role") ?? ["", ""];
    const res = await a.inject({
      url: "/_/api/get/local/admin",
      headers: { cookie: `kiln.cookietest.admin=${sealed}` },
    });
    expect(res.json()).toEqual({ value: "absent" });
  });

  it("read an expired cookie as absent even if the browser still sends it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const a = app();
    const jar = new TestJar();
    await jar.send(a, `/_/api/set/local/short?value=1&days=1`);
    vi.setSystemTime(Date.now() + 86_400_000 - 5_000);
    expect((await jar.send(a, "/_/api/get/local/short")).json()).toEqual({ value: 1 });
    vi.setSystemTime(Date.now() + 10_000);
    expect((await jar.send(a, "/_/api/get/local/short")).json()).toEqual({ value: "absent" });
  });

  it("read another app's cookie (another secret) as absent", async () => {
    const mine = app({ secret: "mine-mine-mine-mine-mine" });
    const theirs = app({ secret: "theirs-theirs-theirs-theirs" });
    const jar = new TestJar();
    await jar.send(theirs, `/_/api/set/local/prefs?value=1`);
    expect((await jar.send(mine, "/_/api/get/local/prefs")).json()).toEqual({ value: "absent" });
  });

  it("still read after a secret rotation (previousSecrets), and only then", async () => {
    const before = app({ secret: "the-old-app-secret-0123" });
    const jar = new TestJar();
    await jar.send(before, `/_/api/set/local/prefs?value=${value("kept")}`);
    const rotated = app({
      secret: "the-new-app-secret-4567",
      services: { cookies: { previousSecrets: ["the-old-app-secret-0123"] } },
    });
    expect((await jar.send(rotated, "/_/api/get/local/prefs")).json()).toEqual({ value: "kept" });
    vi.stubEnv("KILN_PREVIOUS_SECRETS", "the-old-app-secret-0123");
    const fromEnv = app({ secret: "the-new-app-secret-4567" });
    expect((await jar.send(fromEnv, "/_/api/get/local/prefs")).json()).toEqual({ value: "kept" });
    vi.unstubAllEnvs();
    const forgotten = app({ secret: "the-new-app-secret-4567" });
    expect((await jar.send(forgotten, "/_/api/get/local/prefs")).json()).toEqual({
      value: "absent",
    });
  });

  it("refuse a value over the browser limit with an error naming the cookie", async () => {
    const a = app();
    a.httpEndpoint("/big", () => {
      try {
        cookies.local.set("bigcookie", "x".repeat(4000));
        return "stored";
      } catch (error) {
        return { code: (error as KilnError).code, message: (error as Error).message };
      }
    });
    const res = await a.inject("/_/api/big");
    expect(res.json().code).toBe("KILN_COOKIE_TOO_LARGE");
    expect(res.json().message).toMatch(/Cookie "bigcookie" is \d+ bytes .* at most 4096/);
    expect(setCookies(res)).toEqual([]);
  });

  it("refuse bad names, values JSON cannot hold and bad maxAge with KILN_BAD_COOKIE", async () => {
    const a = app();
    const attempts: Array<() => void> = [
      () => cookies.local.set("bad name", 1),
      () => cookies.local.set("n", 10n),
      () => cookies.local.set("n", () => 1),
      () => cookies.local.set("n", 1, { maxAge: 0 }),
      () => cookies.local.set("n", 1, { maxAge: 401 }),
    ];
    a.httpEndpoint("/bad", () =>
      attempts.map((attempt) => {
        try {
          attempt();
          return "no error";
        } catch (error) {
          return (error as KilnError).code;
        }
      }),
    );
    expect((await a.inject("/_/api/bad")).json()).toEqual(Array(5).fill("KILN_BAD_COOKIE"));
  });

  it("work only inside a request", () => {
    expect(() => cookies.local.get("x")).toThrowError(
      expect.objectContaining({ code: "KILN_NO_REQUEST" }),
    );
  });

  it("merge with Set-Cookie lines of an HttpResponse", async () => {
    const a = app();
    a.httpEndpoint("/both", () => {
      cookies.local.set("mine", 1);
      return new HttpResponse({ body: "ok" }).setCookie("raw", "v");
    });
    const lines = setCookies(await a.inject("/_/api/both"));
    expect(lines.map((l) => l.split("=")[0])).toEqual(["kiln.cookietest.mine", "raw"]);
  });
});

describe("cookies.shared", () => {
  it("are readable by every app with the same shared secret, unlike local ones", async () => {
    const shared = { cookies: { sharedSecret: SHARED } };
    const one = app({ name: "one", secret: "secret-of-app-one-xxxx", services: shared });
    const two = app({ name: "two", secret: "secret-of-app-two-xxxx", services: shared });
    const jar = new TestJar();
    await jar.send(one, `/_/api/set/shared/lang?value=${value("fr")}`);
    await jar.send(one, `/_/api/set/local/lang?value=${value("local-fr")}`);
    expect([...jar.cookies.keys()].sort()).toEqual(["kiln-shared.lang", "kiln.one.lang"]);
    expect((await jar.send(two, "/_/api/get/shared/lang")).json()).toEqual({ value: "fr" });
    expect((await jar.send(two, "/_/api/get/local/lang")).json()).toEqual({ value: "absent" });
  });

  it("take the shared secret from KILN_SHARED_SECRET too, and a sharedDomain", async () => {
    vi.stubEnv("KILN_SHARED_SECRET", SHARED);
    const one = app({ services: { cookies: { sharedDomain: "example.com" } } });
    const jar = new TestJar();
    const res = await jar.send(one, `/_/api/set/shared/lang?value=${value("de")}`);
    expect(setCookies(res)[0]).toContain("; Domain=example.com;");
    const two = app({ name: "two", services: { cookies: { sharedSecret: SHARED } } });
    expect((await jar.send(two, "/_/api/get/shared/lang")).json()).toEqual({ value: "de" });
  });

  it("read a local cookie's value under the shared name as absent", async () => {
    const a = app({ services: { cookies: { sharedSecret: SHARED } } });
    const jar = new TestJar();
    await jar.send(a, `/_/api/set/local/lang?value=1`);
    const [, sealed] = jar.find("kiln.cookietest.lang") ?? ["", ""];
    const res = await a.inject({
      url: "/_/api/get/shared/lang",
      headers: { cookie: `kiln-shared.lang=${sealed}` },
    });
    expect(res.json()).toEqual({ value: "absent" });
  });

  it("without a shared secret are an error that says how to configure one", async () => {
    const a = app();
    a.httpEndpoint("/noshared", () => {
      try {
        cookies.shared.get("x");
      } catch (error) {
        return { code: (error as KilnError).code, message: (error as Error).message };
      }
    });
    const res = (await a.inject("/_/api/noshared")).json();
    expect(res.code).toBe("KILN_NO_SHARED_SECRET");
    expect(res.message).toContain("services.cookies.sharedSecret");
  });

  it("refuse a short shared secret at start", async () => {
    const a = app({ services: { cookies: { sharedSecret: "short" } } });
    await expect(a.ready()).rejects.toThrowError(/sharedSecret.*at least 16/);
  });
});
