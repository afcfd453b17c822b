import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { request } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { cookiesOf, form, send } from "./http-client.ts";
import { basic, type UsersTestApp, users, usersAppOn } from "./users-test-app.ts";

/**
 * A browser attaches the session cookie and remembered Basic credentials to requests that
 * another site's page makes it send. Such a request (cross-site by the XSRF rule) must never
 * run as the user, nor log in, nor count as a guess, unless the endpoint lists that origin.
 * Real HTTP to a real server; the browser's headers (Origin, Sec-Fetch-Site) are set by hand
 * here, and by Chromium itself in test/browser/remembered-credentials.test.ts.
 */

const ADA = "ada@example.com";
const PW = "correct horse";
const EVIL = "https://evil.example";
const LISTED = "https://front.example";

let app: UsersTestApp;
afterEach(() => app?.cleanup());

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: requests made by another site's page`, () => {
    let base: string;
    let ran: string[];

    async function start() {
      app = await usersAppOn(dialect);
      ran = [];
      const me = () => {
        ran.push(request.path);
        return { email: users.getUser()?.email ?? null };
      };
      app.httpEndpoint("/me", { authenticateUsers: true, methods: ["GET", "POST"] }, me);
      app.httpEndpoint("/me-open", { authenticateUsers: true, crossOrigin: true }, me);
      app.httpEndpoint("/me-listed", { authenticateUsers: true, crossOrigin: [LISTED] }, me);
      app.httpEndpoint("/me-trusting", { authenticateUsers: true, crossSiteSession: true }, me);
      app.httpEndpoint("/ops", { requireAuth: (u, p) => u === "ops" && p === "ops-pw" }, me);
      app.httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) => {
        await users.loginWithEmail(email ?? "", password ?? "");
        return { ok: true };
      });
      app.httpEndpoint("/login-listed", { methods: ["POST"], crossOrigin: [LISTED] }, async (p) => {
        await users.loginWithEmail(p.email ?? "", p.password ?? "");
        return { ok: true };
      });
      base = `${await app.listen({ host: "127.0.0.1", port: 0 })}/_/api`;
      await users.addUser(ADA, PW);
    }

    async function counters(): Promise<unknown[]> {
      const { systemDb: db } = app.services.tables!;
      const { rows } = await sql`SELECT account, address FROM _kiln_login_failures`.execute(db);
      return rows;
    }

    it("refuses remembered Basic credentials with 403, before the handler, without a challenge", async () => {
      await start();
      const foreignHeaders: Record<string, string>[] = [
        { origin: EVIL },
        { "sec-fetch-site": "cross-site" },
        { "sec-fetch-site": "same-site", referer: "http://127.0.0.1:1/page" },
        { origin: "null" },
      ];
      for (const headers of foreignHeaders) {
        for (const method of ["GET", "POST"]) {
          const res = await send(`${base}/me`, {
            method,
            headers: { ...basic(ADA, PW), ...headers },
          });
          expect(res.status).toBe(403);
          expect(res.json()).toMatchObject({ error: expect.stringContaining("another site") });
          expect(res.headers["www-authenticate"]).toBeUndefined();
        }
      }
      // Even crossOrigin: true lets foreign pages read only without credentials.
      const open = await send(`${base}/me-open`, { headers: { ...basic(ADA, PW), origin: EVIL } });
      expect(open.status).toBe(403);
      expect(open.headers["access-control-allow-credentials"]).toBeUndefined();
      // requireAuth endpoints too: the browser would attach the same remembered credentials.
      const ops = await send(`${base}/ops`, {
        headers: { ...basic("ops", "ops-pw"), origin: EVIL },
      });
      expect(ops.status).toBe(403);
      expect(ran).toEqual([]);
    });

    it("still serves the same credentials from curl, the app's own pages and listed origins", async () => {
      await start();
      const own = base.replace(/\/_\/api$/, "");
      const cases: [string, Record<string, string>][] = [
        ["/me", {}],
        ["/me", { origin: own, "sec-fetch-site": "same-origin" }],
        ["/me", { "sec-fetch-site": "none" }],
        ["/me-listed", { origin: LISTED, "sec-fetch-site": "cross-site" }],
        ["/me-trusting", { origin: EVIL, "sec-fetch-site": "cross-site" }],
      ];
      for (const [path, headers] of cases) {
        const res = await send(`${base}${path}`, { headers: { ...basic(ADA, PW), ...headers } });
        expect([path, res.status, res.json()]).toEqual([path, 200, { email: ADA }]);
      }
      const listed = await send(`${base}/me-listed`, {
        headers: { ...basic(ADA, PW), origin: LISTED },
      });
      expect(listed.headers["access-control-allow-origin"]).toBe(LISTED);
      expect(listed.headers["access-control-allow-credentials"]).toBe("true");
      // A listed origin is trusted on its own endpoint only.
      const elsewhere = await send(`${base}/me`, {
        headers: { ...basic(ADA, PW), origin: LISTED },
      });
      expect(elsewhere.status).toBe(403);
    });

    it("a logged-in session: unlisted origins get 403, a listed one runs as the user", async () => {
      await start();
      const login = await send(`${base}/login`, {
        method: "POST",
        ...form({ email: ADA, password: PW }),
      });
      expect(login.status).toBe(200);
      const cookie = cookiesOf(login);
      expect(cookie).toMatch(/kiln-session/);
      const from = (path: string, origin: string) =>
        send(`${base}${path}`, { headers: { cookie, origin } });
      expect((await from("/me", EVIL)).status).toBe(403);
      expect((await from("/me-open", EVIL)).status).toBe(403);
      expect((await from("/me-listed", EVIL)).status).toBe(403);
      const listed = await from("/me-listed", LISTED);
      expect([listed.status, listed.json()]).toEqual([200, { email: ADA }]);
    });

    it("refuses logins that a foreign page posts, before any password check, and counts none of them", async () => {
      await start();
      const post = (path: string, password: string, headers: Record<string, string>) => {
        const body = form({ email: ADA, password });
        return send(`${base}${path}`, {
          method: "POST",
          body: body.body,
          headers: { ...body.headers, ...headers },
        });
      };
      // Far more than the free failures and the block: none of them may count.
      for (let i = 0; i < 30; i++) {
        const forged = await post("/login", `guess ${i}`, { origin: EVIL });
        expect(forged.status).toBe(403);
        const basicGuess = await send(`${base}/me`, {
          headers: { ...basic(ADA, `guess ${i}`), "sec-fetch-site": "cross-site" },
        });
        expect(basicGuess.status).toBe(403);
      }
      // The right password is refused too: proof that no password was checked.
      const right = await post("/login", PW, { origin: EVIL });
      expect(right.status).toBe(403);
      expect(cookiesOf(right)).not.toMatch(/kiln-session/);
      expect(await counters()).toEqual([]);
      expect((await users.getUserByEmail(ADA))?.nPasswordFailures).toBe(0);
      expect((await users.getUserByEmail(ADA))?.lastLogin).toBeNull();
      // The owner, from the same address, logs in at once.
      const owner = await post("/login", PW, {});
      expect(owner.status).toBe(200);
      // A listed origin's login form is checked (and counted) as usual.
      expect((await post("/login-listed", "wrong", { origin: LISTED })).status).toBe(401);
      expect((await post("/login-listed", PW, { origin: LISTED })).status).toBe(200);
      expect(await counters()).toHaveLength(2); // (account, address) and the account's total
    });
  });
}
