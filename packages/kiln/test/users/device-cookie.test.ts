import { afterEach, describe, expect, it } from "vitest";
import { testDialects } from "../support/dialects.ts";
import { cookiesOf, form, send } from "./http-client.ts";
import { basic, type UsersTestApp, users, usersAppOn } from "./users-test-app.ts";

/**
 * The device cookie, over real HTTP: a browser that logged in to an account before gets past
 * the account-wide ceiling at once, from any address, while a distributed attack keeps every
 * other newcomer waiting in line. Client addresses are set with X-Forwarded-For (trustProxy).
 */

const ADA = "ada@example.com";
const PW = "correct horse";
const DEVICE_COOKIE = /^kiln\.test\._kiln_device=/;

let app: UsersTestApp;
afterEach(() => app?.cleanup());

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: device cookies`, () => {
    let base: string;

    async function start() {
      app = await usersAppOn(dialect, {
        trustProxy: true,
        services: { users: { guessing: { accountCeiling: 3, accountSlowSeconds: 600 } } },
      });
      app.httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) => {
        await users.loginWithEmail(email ?? "", password ?? "");
        return { ok: true };
      });
      app.httpEndpoint("/signup", { methods: ["POST"] }, async ({ email, password }) => {
        await users.signupWithEmail(email ?? "", password ?? "");
        return { ok: true };
      });
      app.httpEndpoint("/me", { authenticateUsers: true }, () => ({
        email: users.getUser()?.email,
      }));
      base = `${await app.listen({ host: "127.0.0.1", port: 0 })}/_/api`;
      await users.addUser(ADA, PW);
    }

    const login = (from: string, password: string, cookie?: string, email = ADA) => {
      const body = form({ email, password });
      const headers: Record<string, string> = { ...body.headers, "x-forwarded-for": from };
      if (cookie) headers.cookie = cookie;
      return send(`${base}/login`, { method: "POST", headers, body: body.body });
    };
    /** Only the device cookie of an answer (not the session): what the test carries over. */
    const deviceCookie = (answer: Awaited<ReturnType<typeof login>>) =>
      cookiesOf(answer)
        .split("; ")
        .filter((pair) => DEVICE_COOKIE.test(pair))
        .join("; ");

    async function distributedAttack(email = ADA) {
      // Past the ceiling (3 failures from 3 addresses), then the attacker keeps the queue busy.
      for (let i = 1; i <= 6; i++) await login(`198.51.10${i}.1`, `guess ${i}`, undefined, email);
    }

    it("lets the owner's browser in at once from a new address while the account is under attack", async () => {
      await start();
      const first = await login("10.0.0.1", PW);
      expect(first.status).toBe(200);
      const device = deviceCookie(first);
      expect(device).toMatch(DEVICE_COOKIE);
      // Encrypted: the value does not show the email or the device id in the clear.
      expect(device).not.toContain("ada");

      await distributedAttack();
      // A new phone, on another network, without the cookie: it must wait in line...
      const newcomer = await login("203.0.113.7", PW);
      expect(newcomer.status).toBe(429);
      expect(Number(newcomer.headers["retry-after"])).toBeGreaterThan(0);
      // ...while the browser that logged in before is let in, by form and by Basic credentials.
      const owner = await login("203.0.113.5", PW, device);
      expect(owner.status).toBe(200);
      const viaBasic = await send(`${base}/me`, {
        headers: { ...basic(ADA, PW), cookie: device, "x-forwarded-for": "203.0.113.6" },
      });
      expect([viaBasic.status, viaBasic.json()]).toEqual([200, { email: ADA }]);
    });

    it("gives the browser that signed up a device cookie: its next login is no newcomer's", async () => {
      await start();
      const cy = "cy@example.com";
      const body = form({ email: cy, password: PW });
      const signup = await send(`${base}/signup`, {
        method: "POST",
        headers: { ...body.headers, "x-forwarded-for": "10.0.0.1" },
        body: body.body,
      });
      expect(signup.status).toBe(200);
      const device = deviceCookie(signup);
      expect(device).toMatch(DEVICE_COOKIE);
      await distributedAttack(cy);
      expect((await login("203.0.113.7", PW, undefined, cy)).status).toBe(429);
      expect((await login("203.0.113.5", PW, device, cy)).status).toBe(200);
    });

    it("does not let a tampered device cookie, or one made for another account, past the ceiling", async () => {
      await start();
      await users.addUser("bob@example.com", "bob's password");
      const bobs = await send(`${base}/login`, {
        method: "POST",
        headers: { ...form({}).headers, "x-forwarded-for": "10.0.0.2" },
        body: form({ email: "bob@example.com", password: "bob's password" }).body,
      });
      const bobDevice = deviceCookie(bobs);
      expect(bobDevice).toMatch(DEVICE_COOKIE);
      const adaDevice = deviceCookie(await login("10.0.0.1", PW));
      await distributedAttack();
      expect((await login("203.0.113.5", PW, bobDevice)).status).toBe(429);
      const tampered = adaDevice.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
      expect((await login("203.0.113.6", PW, tampered)).status).toBe(429);
    });

    it("is given after a password check only: a remembered Basic credential sends no cookie", async () => {
      await start();
      const headers = { ...basic(ADA, PW), "x-forwarded-for": "10.0.0.1" };
      const checked = await send(`${base}/me`, { headers });
      expect(deviceCookie(checked)).toMatch(DEVICE_COOKIE);
      const remembered = await send(`${base}/me`, { headers });
      expect(remembered.status).toBe(200);
      expect(remembered.headers["set-cookie"]).toBeUndefined();
    });

    it("keeps a per-device limit: a device that keeps failing is slowed like an address", async () => {
      await start();
      const device = deviceCookie(await login("10.0.0.1", PW));
      const statuses = [];
      for (let i = 0; i < 7; i++) {
        statuses.push((await login(`192.0.2.${i + 1}`, `wrong ${i}`, device)).status);
      }
      // 5 free failures, then the device must wait, whichever address it moves to.
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      // The addresses themselves are not burnt: a browser without the cookie gets in there.
      expect((await login("192.0.2.1", PW)).status).toBe(200);
    });
  });
}
