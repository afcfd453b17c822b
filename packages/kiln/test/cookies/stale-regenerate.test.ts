import { afterEach, describe, expect, it } from "vitest";
import { session, users } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { gate } from "../support/gate.ts";
import { type UsersTestApp, usersAppOn } from "../users/users-test-app.ts";

/**
 * A request that loaded the logged-in session, then calls `session.regenerate()` after a
 * logout in another request of the same browser has moved the session away: its regenerate
 * must not bring the logged-out session back (under a new id, with the user still in it).
 */

let app: UsersTestApp | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

const SESSION_COOKIE = /^(kiln-session\.test)=([^;]*)/;

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: regenerate in a request that another request overtook`, () => {
    let slowGate = gate();

    async function start(): Promise<UsersTestApp> {
      const started = await usersAppOn(dialect);
      started.httpEndpoint("/login", { methods: ["POST"] }, async () => {
        await users.loginWithEmail("ada@example.com", "correct horse battery");
        return "ok";
      });
      started.httpEndpoint("/logout", { methods: ["POST"] }, () => {
        users.logout();
        return "ok";
      });
      started.httpEndpoint("/set/:key/:value", { methods: ["POST"] }, ({ key, value }) => {
        session.set(key, value);
        return "ok";
      });
      started.httpEndpoint("/stale", { methods: ["POST"] }, async ({ key, value }) => {
        await slowGate.wait();
        session.regenerate();
        if (key && value) session.set(key, value);
        return "ok";
      });
      started.httpEndpoint("/me", async () => ({
        email: (await users.loadUser())?.email ?? null,
        session: Object.fromEntries(session.keys().map((k) => [k, session.get(k)])),
      }));
      await started.users.addUser("ada@example.com", "correct horse battery");
      return started;
    }

    /** Sends with `cookie`; returns the answer and the session cookie it set ("" expired, null none). */
    async function send(path: string, cookie: string | null, method: "GET" | "POST" = "POST") {
      const res = await app!.inject({
        method,
        url: `/_/api${path}`,
        headers: cookie ? { cookie } : {},
      });
      const lines = res.headers["set-cookie"] ?? [];
      let set: string | null = null;
      for (const line of Array.isArray(lines) ? lines : [lines]) {
        const match = SESSION_COOKIE.exec(line);
        if (match) set = /Max-Age=0(;|$)/i.test(line) ? "" : `${match[1]}=${match[2]}`;
      }
      return { res, set };
    }

    const me = async (cookie: string) =>
      (await send("/me", cookie, "GET")).res.json() as {
        email: string | null;
        session: Record<string, unknown>;
      };

    async function loggedInThenOvertaken(stalePath: string) {
      app = await start();
      const login = await send("/login", null);
      const cookie = login.set!;
      expect(cookie).toBeTruthy();
      await send("/set/theme/dark", cookie);
      expect(await me(cookie)).toMatchObject({ email: "ada@example.com" });

      slowGate = gate();
      const stale = send(stalePath, cookie);
      await slowGate.entered; // the stale request has loaded the logged-in session
      const logout = await send("/logout", cookie);
      const moved = logout.set!;
      expect(moved).toBeTruthy();
      slowGate.release();
      const late = await stale;
      expect(late.res.statusCode).toBe(200);
      return { cookie, moved, late: late.set };
    }

    it("does not bring the logged-out session back", async () => {
      const { cookie, moved, late } = await loggedInThenOvertaken("/stale");
      expect(await me(cookie)).toEqual({ email: null, session: {} });
      expect(await me(moved)).toEqual({ email: null, session: { theme: "dark" } });
      // Before the fix: a new session, logged in as ada again, whatever the logout said.
      if (late) expect(await me(late)).toEqual({ email: null, session: {} });
      // Nothing to send: the browser keeps the session the logout gave it.
      expect(late).toBeNull();
    });

    it("keeps what another request saved meanwhile, as a save does", async () => {
      app = await start();
      const cookie = (await send("/set/theme/dark", null)).set!;
      slowGate = gate();
      const stale = send("/stale?key=step&value=two", cookie);
      await slowGate.entered;
      await send("/set/lang/fr", cookie);
      slowGate.release();
      const late = (await stale).set!;
      expect(late).toBeTruthy();
      expect(await me(late)).toEqual({
        email: null,
        session: { theme: "dark", lang: "fr", step: "two" },
      });
      expect(await me(cookie)).toEqual({ email: null, session: {} });
    });

    it("keeps only what the stale request itself set, without the user", async () => {
      const { moved, late } = await loggedInThenOvertaken("/stale?key=step&value=two");
      expect(late).toBeTruthy();
      expect(await me(late!)).toEqual({ email: null, session: { step: "two" } });
      expect(await me(moved)).toEqual({ email: null, session: { theme: "dark" } });
    });
  });
}
