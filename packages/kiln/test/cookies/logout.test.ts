import { afterEach, describe, expect, it } from "vitest";
import { session, users } from "../../src/index.ts";
import { type ListeningApp, listeningApp } from "../reliability/raw-http.ts";
import { gate } from "../support/gate.ts";

/**
 * Logging out over real HTTP, while the session holds other keys and while another request of
 * the same browser is still running: the old cookie must be dead afterwards, and nothing a
 * request in flight saves may bring the login back.
 */

let app: ListeningApp | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

let slowGate = gate();

async function sessionApp(): Promise<ListeningApp> {
  const started = await listeningApp(
    (app) => {
      app.httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) => {
        await users.loginWithEmail(email ?? "", password ?? "");
        return "ok";
      });
      app.httpEndpoint("/logout", { methods: ["POST"] }, () => {
        users.logout();
        return "ok";
      });
      app.httpEndpoint("/set/:key/:value", { methods: ["POST"] }, ({ key, value }) => {
        session.set(key, value);
        return "ok";
      });
      app.httpEndpoint("/drop/:key", { methods: ["POST"] }, ({ key }) => {
        session.delete(key);
        return "ok";
      });
      app.httpEndpoint("/slow/:key/:value", { methods: ["POST"] }, async ({ key, value }) => {
        await slowGate.wait();
        session.set(key, value);
        return "ok";
      });
      app.httpEndpoint("/me", async () => ({
        email: (await users.loadUser())?.email ?? null,
        session: Object.fromEntries(session.keys().map((k) => [k, session.get(k)])),
      }));
    },
    { services: { users: { scrypt: { N: 1024, r: 8, p: 1 } } } },
  );
  await started.users.addUser("ada@example.com", "correct horse battery");
  return started;
}

/** One browser: a cookie jar over fetch (same-origin requests, as the app's own page makes). */
class Jar {
  cookies = new Map<string, string>();
  constructor(readonly app: ListeningApp) {}

  get header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  async send(path: string, method = "GET", body?: string, cookie = this.header) {
    const res = await fetch(`${this.app.url}/_/api${path}`, {
      method,
      headers: {
        cookie,
        origin: this.app.url,
        ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
      body,
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      if (/Max-Age=0(;|$)/i.test(line)) this.cookies.delete(pair.slice(0, eq));
      else this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  }

  async me(cookie = this.header) {
    return (await (await this.send("/me", "GET", undefined, cookie)).json()) as {
      email: string | null;
      session: Record<string, unknown>;
    };
  }

  login() {
    return this.send("/login", "POST", "email=ada@example.com&password=correct+horse+battery");
  }
}

describe("logout", () => {
  it("kills the old session cookie even when the session holds other keys", async () => {
    app = await sessionApp();
    const browser = new Jar(app);
    expect((await browser.login()).status).toBe(200);
    await browser.send("/set/theme/dark", "POST");
    const before = browser.header;
    expect(await browser.me()).toEqual({
      email: "ada@example.com",
      session: { _kiln_user: expect.any(String), theme: "dark" },
    });

    expect((await browser.send("/logout", "POST")).status).toBe(200);
    // The browser keeps its other keys, under a new id.
    expect(browser.header).not.toBe(before);
    expect(await browser.me()).toEqual({ email: null, session: { theme: "dark" } });
    // Whoever kept the old cookie holds nothing.
    expect(await browser.me(before)).toEqual({ email: null, session: {} });
  });

  it("is not undone by a request that started before it and saves after it", async () => {
    app = await sessionApp();
    const browser = new Jar(app);
    await browser.login();
    await browser.send("/set/theme/dark", "POST");
    const cookie = browser.header;
    slowGate = gate();
    const slow = browser.send("/slow/visits/1", "POST", undefined, cookie);
    await slowGate.entered; // the slow request has loaded the logged-in session
    await browser.send("/logout", "POST");
    slowGate.release();
    expect((await slow).status).toBe(200);
    expect((await browser.me(cookie)).email).toBeNull();
    expect((await browser.me()).email).toBeNull();
  });
});

describe("a session saved by two requests at once", () => {
  it("keeps a key that another request deleted meanwhile deleted, and both requests' sets", async () => {
    app = await sessionApp();
    const browser = new Jar(app);
    await browser.send("/set/role/admin", "POST");
    await browser.send("/set/theme/dark", "POST");
    slowGate = gate();
    const slow = browser.send("/slow/visits/1", "POST");
    await slowGate.entered; // loaded { role, theme }
    await browser.send("/drop/role", "POST");
    await browser.send("/set/lang/fr", "POST");
    slowGate.release();
    expect((await slow).status).toBe(200);
    expect((await browser.me()).session).toEqual({ theme: "dark", lang: "fr", visits: "1" });
  });
});
