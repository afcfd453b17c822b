import { afterEach, describe, expect, it } from "vitest";
import { type AuthScheme, request, type UserRow } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { basic, type UsersTestApp, users, usersApp, usersAppOn } from "./users-test-app.ts";

/*
 * Schemes of the app's own (`requireAuth: { scheme, check }`), through real HTTP: the check
 * gets the credentials and the request, whatever the scheme; a users row it returns makes the
 * request that user's, as Basic does; the 401 names exactly the schemes the endpoint accepts.
 */

const ADA = "ada@example.com";
const PW = "correct horse";

let app: UsersTestApp | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

const whoAmI = () => ({
  user: users.getUser() ? { email: users.getUser()!.email } : request.user,
  same: users.getUser() !== null && users.getUser() === request.user,
});

async function get(url: string, authorization?: string) {
  const res = await fetch(url, { headers: authorization ? { authorization } : {} });
  const text = await res.text();
  return {
    status: res.status,
    challenge: res.headers.get("www-authenticate"),
    body: text ? JSON.parse(text) : null,
  };
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: requireAuth with the app's own schemes`, () => {
    /** API keys `key-<email>` for users; `ops-key` is a service principal that is no user. */
    const apiKey: AuthScheme = {
      scheme: "Token",
      async check(key, req) {
        if (req.headers["x-reject"]) return null;
        if (key === "ops-key") return { service: "ops", path: req.path };
        if (!key.startsWith("key-")) return null;
        return users.getUserByEmail(key.slice(4));
      },
    };

    async function start() {
      app = await usersAppOn(dialect);
      app.httpEndpoint("/token-only", { requireAuth: apiKey }, whoAmI);
      app.httpEndpoint(
        "/two",
        { requireAuth: [apiKey, { scheme: "ApiKey", check: (k) => k === "k2" && { key: 2 } }] },
        whoAmI,
      );
      app.httpEndpoint("/users-or-token", { authenticateUsers: true, requireAuth: apiKey }, whoAmI);
      app.httpEndpoint(
        "/basic-fn",
        {
          requireAuth: (email, password, req) =>
            req.headers["x-ok"] === "yes" && password === "letmein"
              ? users.getUserByEmail(email)
              : null,
        },
        whoAmI,
      );
      const url = `${await app.listen({ port: 0 })}/_/api`;
      await users.addUser(ADA, PW);
      return url;
    }

    it("calls the check for its scheme with the credentials and the request; a non-user principal is request.user", async () => {
      const url = await start();
      const res = await get(`${url}/token-only`, "Token ops-key");
      expect(res).toMatchObject({
        status: 200,
        body: { user: { service: "ops", path: "/_/api/token-only" }, same: false },
      });
      expect((await get(`${url}/token-only`, "token   ops-key")).status).toBe(200);
    });

    it("a users row from the check makes the request that user's, exactly as Basic does", async () => {
      const url = await start();
      const res = await get(`${url}/token-only`, `Token key-${ADA}`);
      expect(res).toMatchObject({ status: 200, body: { user: { email: ADA }, same: true } });
    });

    it("a disabled user's row is refused", async () => {
      const url = await start();
      await ((await users.getUserByEmail(ADA)) as UserRow).update({ enabled: false });
      expect((await get(`${url}/token-only`, `Token key-${ADA}`)).status).toBe(401);
    });

    it("answers 401 naming only the schemes the endpoint accepts", async () => {
      const url = await start();
      for (const auth of [undefined, "Token nope", "Token", basicHeader(ADA, PW)]) {
        const res = await get(`${url}/token-only`, auth);
        expect(res, String(auth)).toMatchObject({ status: 401, challenge: 'Token realm="test"' });
      }
      const two = await get(`${url}/two`);
      expect(two.challenge).toBe('Token realm="test", ApiKey realm="test"');
      expect((await get(`${url}/two`, "ApiKey k2")).body.user).toEqual({ key: 2 });
      expect((await get(`${url}/two`, "ApiKey k3")).status).toBe(401);
    });

    it("with authenticateUsers, the app's scheme is accepted beside Basic, Bearer and the session", async () => {
      const url = await start();
      const token = (await users.createToken((await users.getUserByEmail(ADA)) as UserRow)).token;
      for (const auth of [basicHeader(ADA, PW), `Bearer ${token}`, `Token key-${ADA}`]) {
        const res = await get(`${url}/users-or-token`, auth);
        expect(res, auth).toMatchObject({
          status: 200,
          body: { user: { email: ADA }, same: true },
        });
      }
      const none = await get(`${url}/users-or-token`);
      expect(none.challenge).toBe(
        'Basic realm="test", charset="UTF-8", Bearer realm="test", Token realm="test"',
      );
      expect((await get(`${url}/users-or-token`, "Token wrong")).status).toBe(401);
    });

    it("a request another site's page sent is refused 403 before the app's own check runs", async () => {
      // A scheme named like one browsers attach by themselves (Basic) must not let a foreign
      // page act as the user, exactly as the built-in Basic check does not.
      const calls: string[] = [];
      app = await usersAppOn(dialect);
      app.httpEndpoint(
        "/own-basic",
        {
          methods: ["POST"],
          requireAuth: {
            scheme: "Basic",
            check: (credentials) => {
              calls.push(credentials);
              return { ok: true };
            },
          },
        },
        () => ({ ran: true }),
      );
      app.httpEndpoint("/own-token", { methods: ["POST"], requireAuth: apiKey }, whoAmI);
      const url = `${await app.listen({ port: 0 })}/_/api`;
      await users.addUser(ADA, PW);
      const foreign = { origin: "https://evil.example", "sec-fetch-site": "cross-site" };
      const own = await fetch(`${url}/own-basic`, {
        method: "POST",
        headers: { ...foreign, authorization: basicHeader(ADA, PW) },
      });
      expect(own.status).toBe(403);
      expect(own.headers.get("www-authenticate")).toBeNull();
      expect(calls).toEqual([]);
      const token = await fetch(`${url}/own-token`, {
        method: "POST",
        headers: { ...foreign, authorization: `Token key-${ADA}` },
      });
      expect(token.status).toBe(403);
      // The same request from the app's own page (or a client naming no origin) still runs.
      const same = await fetch(`${url}/own-basic`, {
        method: "POST",
        headers: { authorization: basicHeader(ADA, PW) },
      });
      expect(same.status).toBe(200);
      expect(calls).toHaveLength(1);
    });

    it("a Basic check function gets the request too, and may return a users row", async () => {
      const url = await start();
      const ok = await fetch(`${url}/basic-fn`, {
        headers: { ...basic(ADA, "letmein"), "x-ok": "yes" },
      });
      expect(await ok.json()).toEqual({ user: { email: ADA }, same: true });
      expect((await get(`${url}/basic-fn`, basicHeader(ADA, "letmein"))).status).toBe(401);
    });
  });
}

describe("a malformed scheme", () => {
  const yes = (): boolean => true;
  it.each<[string, object]>([
    ["no name", { check: yes }],
    ["a name with a space", { scheme: "My Token", check: yes }],
    ["no check", { scheme: "Token" }],
  ])("fails at start with KILN_BAD_ENDPOINT (%s)", async (_name, scheme) => {
    app = usersApp();
    app.httpEndpoint("/x", { requireAuth: scheme as unknown as AuthScheme }, () => "x");
    await expect(app.ready()).rejects.toMatchObject({ code: "KILN_BAD_ENDPOINT" });
  });
});

function basicHeader(email: string, password: string): string {
  return basic(email, password).authorization;
}
