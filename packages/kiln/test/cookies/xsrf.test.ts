import { afterEach, describe, expect, it } from "vitest";
import { cookies, session } from "../../src/index.ts";
import { cookieApp, setCookies, type TestApp, TestJar } from "./cookie-test-app.ts";

const apps: TestApp[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.cleanup();
});

/** An app whose browser (the jar) is logged in as alice, with a cookie set. */
async function loggedIn(config: Parameters<typeof cookieApp>[0] = {}) {
  const a = cookieApp(config);
  apps.push(a);
  const view = () => ({
    user: session.get("user") ?? null,
    pref: cookies.local.get("pref") ?? null,
  });
  a.httpEndpoint("/login", () => {
    session.set("user", "alice");
    cookies.local.set("pref", "dark");
  });
  a.httpEndpoint("/whoami", view);
  a.httpEndpoint("/whoami-cross", { crossSiteSession: true }, view);
  a.httpEndpoint("/hijack", { methods: ["POST"] }, () => {
    session.set("user", "mallory");
    cookies.local.set("pref", "evil");
    return view();
  });
  a.httpEndpoint("/logout", { methods: ["POST"] }, () => session.clear());
  const jar = new TestJar();
  await jar.send(a, "/_/api/login");
  return { app: a, jar };
}

// inject() addresses the app as http://localhost:80.
const OWN = "http://localhost:80";
const FOREIGN = "https://evil.example";

describe("XSRF: a request from another origin runs in a fresh, empty session", () => {
  it("a foreign Origin sees neither the logged-in user nor the browser's cookies", async () => {
    const { app, jar } = await loggedIn();
    const res = await jar.send(app, "/_/api/whoami", { headers: { origin: FOREIGN } });
    expect(res.json()).toEqual({ user: null, pref: null });
  });

  it("a foreign Origin cannot change the session or the cookies", async () => {
    const { app, jar } = await loggedIn();
    const res = await jar.send(app, "/_/api/hijack", {
      method: "POST",
      headers: { origin: FOREIGN },
    });
    // The handler ran in its own session (it sees its own writes)...
    expect(res.json()).toEqual({ user: "mallory", pref: "evil" });
    // ...which is thrown away: nothing is sent, and the browser's session is untouched.
    expect(setCookies(res)).toEqual([]);
    expect((await jar.send(app, "/_/api/whoami")).json()).toEqual({ user: "alice", pref: "dark" });
    const logout = await jar.send(app, "/_/api/logout", {
      method: "POST",
      headers: { origin: FOREIGN },
    });
    expect(setCookies(logout)).toEqual([]);
    expect((await jar.send(app, "/_/api/whoami")).json()).toEqual({ user: "alice", pref: "dark" });
  });

  it("a foreign Referer counts when there is no Origin", async () => {
    const { app, jar } = await loggedIn();
    const res = await jar.send(app, "/_/api/whoami", {
      headers: { referer: `${FOREIGN}/page.html` },
    });
    expect(res.json()).toEqual({ user: null, pref: null });
  });

  it("the app's own Origin or Referer, and requests naming no origin, see the session", async () => {
    const { app, jar } = await loggedIn();
    const alice = { user: "alice", pref: "dark" };
    const sameOrigin: Record<string, string>[] = [
      { origin: OWN },
      { origin: "http://localhost" },
      { referer: `${OWN}/_/api/page?x=1` },
      {},
      { "sec-fetch-site": "same-origin", origin: OWN },
      { "sec-fetch-site": "none" },
    ];
    for (const headers of sameOrigin) {
      expect((await jar.send(app, "/_/api/whoami", { headers })).json()).toEqual(alice);
    }
  });

  it("another port, another scheme, a sibling subdomain, null or garbage are foreign", async () => {
    const { app, jar } = await loggedIn();
    const foreign: Record<string, string>[] = [
      { origin: "http://localhost:8080" },
      { origin: "https://localhost" },
      { origin: "null" },
      { origin: "not a url" },
      { referer: "http://sub.localhost/" },
      { "sec-fetch-site": "same-site" },
      { "sec-fetch-site": "cross-site" },
    ];
    for (const headers of foreign) {
      const res = await jar.send(app, "/_/api/whoami", { headers });
      expect(res.json(), JSON.stringify(headers)).toEqual({ user: null, pref: null });
    }
  });

  it("crossSiteSession: true lets a foreign origin use the browser's session", async () => {
    const { app, jar } = await loggedIn();
    const res = await jar.send(app, "/_/api/whoami-cross", { headers: { origin: FOREIGN } });
    expect(res.json()).toEqual({ user: "alice", pref: "dark" });
  });

  it("behind a trusted proxy, the public origin (X-Forwarded-Proto/Host) is the app's own", async () => {
    const { app, jar } = await loggedIn({ trustProxy: true });
    const proxied = { "x-forwarded-proto": "https", "x-forwarded-host": "api.example.com" };
    const own = await jar.send(app, "/_/api/whoami", {
      headers: { ...proxied, origin: "https://api.example.com" },
    });
    expect(own.json()).toEqual({ user: "alice", pref: "dark" });
    const foreign = await jar.send(app, "/_/api/whoami", {
      headers: { ...proxied, origin: OWN },
    });
    expect(foreign.json()).toEqual({ user: null, pref: null });
  });
});
