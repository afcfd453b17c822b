import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { request, type UserRow } from "../../src/index.ts";
import { type TestDialect, testDialects } from "../support/dialects.ts";
import {
  basic,
  sameAppAs,
  type UsersTestApp,
  users,
  usersApp,
  usersAppOn,
} from "./users-test-app.ts";

/*
 * API tokens through real HTTP (a listening server, fetch), on SQLite and PostgreSQL: the
 * secret is shown once and stored only as its SHA-256; Bearer tokens open authenticateUsers
 * endpoints; revoking a token or disabling its user is honoured at once by another process of
 * the same app (a second app on the same database, with its own memory).
 */

const ADA = "ada@example.com";
const BOB = "bob@example.com";
const PW = "correct horse";
const CHALLENGE = 'Basic realm="test", charset="UTF-8", Bearer realm="test"';
const INVALID = 'Basic realm="test", charset="UTF-8", Bearer realm="test", error="invalid_token"';

const opened: UsersTestApp[] = [];
afterEach(async () => {
  for (const app of opened.reverse()) await app.cleanup();
  opened.length = 0;
});

/** An app of the suite, listening on a free port: its URL and the app. */
async function serve(app: UsersTestApp): Promise<{ app: UsersTestApp; url: string }> {
  opened.push(app);
  app.httpEndpoint("/me", { authenticateUsers: true }, () => ({
    email: users.getUser()?.email,
    same: users.getUser() === request.user,
    token: users.getToken()?.name ?? null,
  }));
  app.httpEndpoint("/tokens", { methods: ["POST"] }, async (_params, { body }) => {
    const { email, password } = body as { email: string; password: string };
    const user = await users.checkPassword(email, password);
    const made = await users.createToken(user, { name: "from a password", expiresIn: "1h" });
    return { token: made.token, id: made.id };
  });
  app.httpEndpoint("/my-tokens", { authenticateUsers: true }, () =>
    users.listTokens(users.getUser()!),
  );
  app.httpEndpoint("/logout", { methods: ["POST"], authenticateUsers: true }, async () => ({
    revoked: await users.revokeToken(users.getUser()!, users.getToken()!.id),
  }));
  const url = `${await app.listen({ port: 0 })}/_/api`;
  return { app, url };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text ? JSON.parse(text) : null,
  };
}

for (const dialect of await testDialects()) {
  const fresh = async (d: TestDialect = dialect) => {
    const served = await serve(await usersAppOn(d));
    await users.addUser(ADA, PW);
    return served;
  };
  const ada = async () => (await users.getUserByEmail(ADA)) as UserRow;

  describe(`${dialect.name}: API tokens`, () => {
    it("gives ids a command line takes as they are: none starts with '-' (1 in 64 did)", async () => {
      await fresh();
      const user = await ada();
      const ids = await Promise.all(
        Array.from({ length: 1000 }, async () => (await users.createToken(user)).id),
      );
      expect(new Set(ids).size).toBe(1000);
      expect(ids.every((id) => /^[A-Za-z0-9_][A-Za-z0-9_-]{11}$/.test(id))).toBe(true);
    });

    it("shows the secret once, keeps only its SHA-256, and lets the user in with Bearer", async () => {
      const { app, url } = await fresh();
      const made = await users.createToken(await ada(), { name: "laptop" });
      expect(made.token).toMatch(/^kiln_[A-Za-z0-9_-]{43}$/);
      expect(made).toMatchObject({ name: "laptop", expiresAt: null, lastUsedAt: null });
      const { db } = app.services.tables as unknown as {
        db: Kysely<{ _kiln_api_tokens: Record<string, string> }>;
      };
      const rows = await db.selectFrom("_kiln_api_tokens").selectAll().execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]!.hash).toBe(createHash("sha256").update(made.token).digest("hex"));
      expect(JSON.stringify(rows)).not.toContain(made.token.slice(5));

      const res = await get(`${url}/me`, bearer(made.token));
      expect(res).toMatchObject({ status: 200, body: { email: ADA, same: true, token: "laptop" } });
      // No session is started for a token: nothing to attach to cross-site requests.
      expect(res.headers.get("set-cookie")).toBeNull();
    });

    it("lets the user in when the users table has links of its own (a join table, not a column)", async () => {
      const { url } = await serve(
        await usersAppOn(dialect, { tables: { users: { follows: "links users" } } }),
      );
      const user = await users.addUser(ADA, PW);
      const bob = await users.addUser(BOB, PW);
      await user.update({ follows: [bob] } as never);
      const made = await users.createToken(user, { name: "laptop" });
      const res = await get(`${url}/me`, bearer(made.token));
      expect(res).toMatchObject({ status: 200, body: { email: ADA, token: "laptop" } });
    });

    it("refuses an unknown, malformed or empty token with 401 and a challenge naming Basic and Bearer", async () => {
      const { url } = await fresh();
      const none = await get(`${url}/me`);
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toBe(CHALLENGE);
      const real = await users.createToken(await ada());
      const forged = `kiln_${"A".repeat(43)}`;
      for (const token of [forged, `${real.token}x`, real.token.slice(0, -1), "", "kiln_", "abc"]) {
        const res = await get(`${url}/me`, bearer(token));
        expect(res.status, token).toBe(401);
        expect(res.headers.get("www-authenticate")).toBe(INVALID);
        expect(res.body).toEqual({ error: "Invalid, expired or revoked token" });
      }
    });

    it("an expired token is refused", async () => {
      const { url } = await fresh();
      const made = await users.createToken(await ada(), { name: "short", expiresIn: 1 });
      expect(made.expiresAt!.getTime() - made.createdAt.getTime()).toBe(1000);
      expect((await get(`${url}/me`, bearer(made.token))).status).toBe(200);
      await new Promise((wait) => setTimeout(wait, 1100));
      expect((await get(`${url}/me`, bearer(made.token))).status).toBe(401);
    });

    it("lists tokens without secrets; last use is recorded, at most once a minute", async () => {
      const { url } = await fresh();
      const first = await users.createToken(await ada(), { name: "one" });
      // Newest first: "two" must be made in a later millisecond (in the same one, the order of
      // two tokens is their random ids', and this test failed 1 run in about 20).
      await new Promise((wait) => setTimeout(wait, 5));
      await users.createToken(await ada(), { name: "two", expiresIn: "30d" });
      const before = await users.listTokens(await ada());
      expect(before.map((t) => [t.name, t.lastUsedAt])).toEqual([
        ["two", null],
        ["one", null],
      ]);
      expect(JSON.stringify(before)).not.toContain("kiln_");
      expect(before[0]!.expiresAt!.getTime() - before[0]!.createdAt.getTime()).toBe(
        30 * 86_400_000,
      );

      await get(`${url}/me`, bearer(first.token));
      const usedOnce = await waitFor(async () => {
        const one = (await users.listTokens(await ada())).find((t) => t.name === "one")!;
        return one.lastUsedAt;
      });
      await get(`${url}/me`, bearer(first.token));
      await get(`${url}/my-tokens`, bearer(first.token));
      const listed = await get(`${url}/my-tokens`, bearer(first.token));
      const one = listed.body.find((t: { name: string }) => t.name === "one");
      expect(one.lastUsedAt).toBe(usedOnce.toISOString());
      expect(Object.keys(one).sort()).toEqual([
        "createdAt",
        "expiresAt",
        "id",
        "lastUsedAt",
        "name",
      ]);
    });

    it("a revoked token is refused at once, by another process of the app too", async () => {
      const { app, url } = await fresh();
      const other = await serve(sameAppAs(app));
      const made = await users.createToken(await ada(), { name: "phone" });
      expect((await get(`${other.url}/me`, bearer(made.token))).status).toBe(200);
      expect((await get(`${url}/me`, bearer(made.token))).status).toBe(200);
      const out = await fetch(`${url}/logout`, { method: "POST", headers: bearer(made.token) });
      expect(await out.json()).toEqual({ revoked: true });
      expect((await get(`${other.url}/me`, bearer(made.token))).status).toBe(401);
      expect((await get(`${url}/me`, bearer(made.token))).status).toBe(401);
    });

    it("a disabled user's tokens are refused at once by every process, and work again when enabled", async () => {
      const { app, url } = await fresh();
      const other = await serve(sameAppAs(app));
      const made = await users.createToken(await ada());
      expect((await get(`${other.url}/me`, bearer(made.token))).status).toBe(200);
      await (await ada()).update({ enabled: false });
      expect((await get(`${other.url}/me`, bearer(made.token))).status).toBe(401);
      expect((await get(`${url}/me`, bearer(made.token))).status).toBe(401);
      await (await ada()).update({ enabled: true });
      expect((await get(`${other.url}/me`, bearer(made.token))).status).toBe(200);
    });

    it("a user can revoke only their own tokens; revokeAllTokens clears a user's", async () => {
      const { url } = await fresh();
      const bob = await users.addUser(BOB, PW);
      const adas = await users.createToken(await ada());
      await users.createToken(await ada());
      const bobs = await users.createToken(bob);
      expect(await users.revokeToken(bob, adas.id)).toBe(false);
      expect((await get(`${url}/me`, bearer(adas.token))).status).toBe(200);
      expect(await users.revokeAllTokens(await ada())).toBe(2);
      expect((await get(`${url}/me`, bearer(adas.token))).status).toBe(401);
      expect((await get(`${url}/me`, bearer(bobs.token))).body.email).toBe(BOB);
    });

    it("a deleted user's tokens stop working", async () => {
      const { url } = await fresh();
      const made = await users.createToken(await ada());
      await (await ada()).delete();
      expect((await get(`${url}/me`, bearer(made.token))).status).toBe(401);
    });

    it("refuses a bad name or lifetime with a clear error", async () => {
      await fresh();
      await expect(users.createToken(await ada(), { name: "" })).rejects.toThrow(/token name/);
      await expect(users.createToken(await ada(), { expiresIn: "soon" })).rejects.toMatchObject({
        code: "KILN_BAD_VALUE",
      });
      await expect(users.createToken(await ada(), { expiresIn: -5 })).rejects.toMatchObject({
        code: "KILN_BAD_VALUE",
      });
      expect(await users.listTokens(await ada())).toEqual([]);
    });
  });

  describe(`${dialect.name}: users.checkPassword`, () => {
    it("exchanges email and password for a token without starting a session", async () => {
      const { url } = await fresh();
      const res = await fetch(`${url}/tokens`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: ADA, password: PW }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("set-cookie")).toBeNull();
      const { token } = (await res.json()) as { token: string };
      expect((await get(`${url}/me`, bearer(token))).body.email).toBe(ADA);
    });

    it("goes through the guessing defence: one answer for every failure, then 429", async () => {
      const { url } = await fresh();
      const attempt = (email: string, password: string) =>
        fetch(`${url}/tokens`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email, password }),
        });
      const wrong = await attempt(ADA, "wrong horse");
      const unknown = await attempt("eve@example.com", PW);
      expect([wrong.status, unknown.status]).toEqual([401, 401]);
      expect(await wrong.text()).toBe(await unknown.text());
      let last = wrong;
      for (let i = 0; i < 6 && last.status !== 429; i++) last = await attempt(ADA, "wrong horse");
      expect(last.status).toBe(429);
      expect(Number(last.headers.get("retry-after"))).toBeGreaterThan(0);
    });
  });
}

describe("Bearer and Basic side by side", () => {
  it("Basic still works on an authenticateUsers endpoint, and a bad token is not retried as Basic", async () => {
    const { url } = await serve(usersApp());
    await users.addUser(ADA, PW);
    expect((await get(`${url}/me`, basic(ADA, PW))).body).toMatchObject({
      email: ADA,
      token: null,
    });
    const res = await get(`${url}/me`, bearer(Buffer.from(`${ADA}:${PW}`).toString("base64")));
    expect(res.status).toBe(401);
  });
});

/** Polls until `read` gives a value (the last-used write is not awaited by the request). */
async function waitFor<T>(read: () => Promise<T | null>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const value = await read();
    if (value !== null) return value;
    await new Promise((wait) => setTimeout(wait, 20));
  }
  throw new Error("timed out waiting for a value");
}
