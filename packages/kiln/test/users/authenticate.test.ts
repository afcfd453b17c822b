import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { request } from "../../src/index.ts";
import { hashParams, hashPassword } from "../../src/users/passwords.ts";
import { type TestDialect, testDialects } from "../support/dialects.ts";
import {
  basic,
  sameAppAs,
  type UsersTestApp,
  users,
  usersApp,
  usersAppOn,
} from "./users-test-app.ts";

let app: UsersTestApp;
let other: UsersTestApp | undefined;
afterEach(async () => {
  await other?.cleanup();
  other = undefined;
  await app?.cleanup();
});

const ADA = "ada@example.com";
const PW = "correct horse";
const CHALLENGE = 'Basic realm="test", charset="UTF-8"';
/** authenticateUsers accepts API tokens too, and its challenge says so. */
const USERS_CHALLENGE = `${CHALLENGE}, Bearer realm="test"`;

/**
 * An app with one protected endpoint echoing who Kiln thinks the caller is, and Ada's account;
 * with `sameAs`, another process of that app (same database).
 */
async function makeProtectedApp(
  dialect: TestDialect,
  config: Parameters<typeof usersApp>[0] = {},
  sameAs?: UsersTestApp,
) {
  const made = sameAs ? sameAppAs(sameAs, config) : await usersAppOn(dialect, config);
  made.httpEndpoint("/me", { authenticateUsers: true }, () => ({
    email: users.getUser()?.email,
    same: users.getUser() === request.user,
    username: request.username,
    password: request.password,
  }));
  made.httpEndpoint("/whole-user", { authenticateUsers: true }, () => users.getUser());
  await made.ready();
  if (!sameAs) await users.addUser(ADA, PW);
  return made;
}

/**
 * A counter of rows inserted, updated or deleted in any table of the app's database from now
 * on (a row trigger on each table, so no write escapes it, whoever makes it).
 */
async function countRowWrites(
  made: UsersTestApp,
  backend: TestDialect["name"],
): Promise<() => Promise<number>> {
  const db = made.services.tables!.systemDb;
  const run = (text: string) => sql.raw(text).execute(db);
  const list =
    backend === "sqlite"
      ? "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
      : "select tablename as name from pg_tables where schemaname = current_schema()";
  const names = ((await run(list)).rows as { name: string }[]).map((row) => row.name);
  await run("create table test_row_writes (n integer not null)");
  await run("insert into test_row_writes values (0)");
  if (backend === "postgres") {
    await run(
      "create function test_count_write() returns trigger language plpgsql as $$ begin update test_row_writes set n = n + 1; return null; end $$",
    );
  }
  for (const name of names) {
    for (const event of ["insert", "update", "delete"]) {
      await run(
        backend === "sqlite"
          ? `create trigger "test_${event}_${name}" after ${event} on "${name}" begin update test_row_writes set n = n + 1; end`
          : `create trigger "test_${event}_${name}" after ${event} on "${name}" for each row execute function test_count_write()`,
      );
    }
  }
  return async () =>
    Number(((await run("select n from test_row_writes")).rows[0] as { n: unknown }).n);
}

for (const dialect of await testDialects()) {
  const protectedApp = (config?: Parameters<typeof usersApp>[0], sameAs?: UsersTestApp) =>
    makeProtectedApp(dialect, config, sameAs);

  describe(`${dialect.name}: authenticateUsers`, () => {
    it("answers 401 with a Basic challenge naming the app when there are no credentials", async () => {
      app = await protectedApp();
      const res = await app.inject({ url: "/_/api/me" });
      expect(res.statusCode).toBe(401);
      expect(res.headers["www-authenticate"]).toBe(USERS_CHALLENGE);
      expect(res.json()).toEqual({ error: "Authentication required" });
    });

    it("lets an enabled user in with Basic credentials: users.getUser() and request.user give the row", async () => {
      app = await protectedApp();
      const res = await app.inject({ url: "/_/api/me", headers: basic(ADA, PW) });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ email: ADA, same: true, username: ADA, password: PW });
    });

    it("matches the email regardless of case", async () => {
      app = await protectedApp();
      const res = await app.inject({ url: "/_/api/me", headers: basic("ADA@Example.COM", PW) });
      expect(res.statusCode).toBe(200);
      expect(res.json().email).toBe(ADA);
    });

    it("gives a wrong password and an unknown email the same answer", async () => {
      app = await protectedApp();
      const wrong = await app.inject({ url: "/_/api/me", headers: basic(ADA, "wrong horse") });
      const unknown = await app.inject({ url: "/_/api/me", headers: basic("eve@example.com", PW) });
      for (const res of [wrong, unknown]) {
        expect(res.statusCode).toBe(401);
        expect(res.headers["www-authenticate"]).toBe(USERS_CHALLENGE);
      }
      expect(wrong.body).toBe(unknown.body);
    });

    it("pays a full password hash for an unknown email and a disabled account too", async () => {
      // With a hash that costs tens of ms, each refusal must take at least that: an unknown
      // email is checked against a dummy hash rather than answered at once. (A lower bound
      // only, so a busy machine cannot make this fail.)
      app = await protectedApp({ services: { users: { scrypt: { N: 2 ** 14, r: 8, p: 1 } } } });
      await users.addUser("off@example.com", PW);
      await (await users.getUserByEmail("off@example.com"))!.update({ enabled: false });
      await app.inject({ url: "/_/api/me", headers: basic("warm@example.com", PW) });
      const floor = async (work: () => Promise<unknown>) => {
        const started = performance.now();
        await work();
        return performance.now() - started;
      };
      let oneHash = Number.POSITIVE_INFINITY; // the quickest of three, in case one was slowed
      for (let i = 0; i < 3; i++) {
        oneHash = Math.min(
          oneHash,
          await floor(() => hashPassword(PW, { N: 2 ** 14, r: 8, p: 1 })),
        );
      }
      for (const email of ["nobody@example.com", "off@example.com", ADA]) {
        const took = await floor(() =>
          app.inject({ url: "/_/api/me", headers: basic(email, "x") }),
        );
        expect(took, email).toBeGreaterThan(oneHash * 0.5);
      }
    });

    it("commits as many row writes for an unknown email as for a wrong password", async () => {
      // Time alone cannot show this (a commit's fsync is a few ms against scrypt's tens): the
      // database is asked. A trigger on every table counts each row written, by anyone.
      app = await protectedApp();
      const writes = await countRowWrites(app, dialect.name);
      const refused = async (email: string, password: string) => {
        const before = await writes();
        const res = await app.inject({ url: "/_/api/me", headers: basic(email, password) });
        expect(res.statusCode).toBe(401);
        return (await writes()) - before;
      };
      // First failures (counters made) and second ones (counters updated), each way.
      const wrong = [await refused(ADA, "wrong horse 1"), await refused(ADA, "wrong horse 2")];
      const unknown = [await refused("eve@example.com", PW), await refused("eve@example.com", PW)];
      expect(wrong[0]).toBeGreaterThan(0);
      expect(unknown).toEqual(wrong);
    });

    it.each([
      ["another scheme", "Digest abc.def"],
      ["no token", "Basic"],
      ["bad base64", "Basic ***"],
      ["no colon", `Basic ${Buffer.from("ada").toString("base64")}`],
      ["invalid UTF-8", `Basic ${Buffer.from([0x61, 0x3a, 0xc3]).toString("base64")}`],
      ["an empty header", ""],
    ])(
      "answers a malformed Authorization header (%s) with 401, never 500",
      async (_name, value) => {
        app = await protectedApp();
        const res = await app.inject({ url: "/_/api/me", headers: { authorization: value } });
        expect(res.statusCode).toBe(401);
        expect(res.headers["www-authenticate"]).toBe(USERS_CHALLENGE);
      },
    );

    it("never sends the password hash when a handler returns the user row", async () => {
      app = await protectedApp();
      const res = await app.inject({ url: "/_/api/whole-user", headers: basic(ADA, PW) });
      expect(res.statusCode).toBe(200);
      expect(res.json().email).toBe(ADA);
      expect(res.body).not.toContain("scrypt");
      expect(res.body).not.toContain("passwordHash");
    });

    it("refuses a disabled user at once, even with credentials it just accepted", async () => {
      app = await protectedApp();
      expect((await app.inject({ url: "/_/api/me", headers: basic(ADA, PW) })).statusCode).toBe(
        200,
      );
      await (await users.getUserByEmail(ADA))!.update({ enabled: false });
      const res = await app.inject({ url: "/_/api/me", headers: basic(ADA, PW) });
      expect(res.statusCode).toBe(401);
    });

    it("refuses the old password at once after a password change", async () => {
      app = await protectedApp();
      expect((await app.inject({ url: "/_/api/me", headers: basic(ADA, PW) })).statusCode).toBe(
        200,
      );
      await users.setPassword((await users.getUserByEmail(ADA))!, "a brand new one");
      expect((await app.inject({ url: "/_/api/me", headers: basic(ADA, PW) })).statusCode).toBe(
        401,
      );
      const res = await app.inject({ url: "/_/api/me", headers: basic(ADA, "a brand new one") });
      expect(res.statusCode).toBe(200);
    });

    it("a password change in one process is seen at once by another that remembered the old one", async () => {
      app = await protectedApp();
      const second = await protectedApp({}, app);
      other = second;
      expect((await second.inject({ url: "/_/api/me", headers: basic(ADA, PW) })).statusCode).toBe(
        200,
      );
      await users.setPassword((await users.getUserByEmail(ADA))!, "changed elsewhere");
      const res = await second.inject({ url: "/_/api/me", headers: basic(ADA, PW) });
      expect(res.statusCode).toBe(401);
    });

    it("records the last login and mirrors the failure count in the user row", async () => {
      app = await protectedApp();
      await app.inject({ url: "/_/api/me", headers: basic(ADA, "nope") });
      await app.inject({ url: "/_/api/me", headers: basic(ADA, "nope again") });
      let ada = (await users.getUserByEmail(ADA))!;
      expect(ada.nPasswordFailures).toBe(2);
      expect(ada.lastLogin).toBeNull();
      await app.inject({ url: "/_/api/me", headers: basic(ADA, PW) });
      ada = (await users.getUserByEmail(ADA))!;
      expect(ada.lastLogin).toBeInstanceOf(Date);
      expect(ada.nPasswordFailures).toBe(2); // still counted until the account is quiet
    });

    it("re-hashes a password made with weaker parameters at the next login", async () => {
      app = await protectedApp();
      const before = (await users.getUserByEmail(ADA))!.passwordHash as string;
      // The same app restarted with stronger parameters (here: a second process with them).
      const restarted = await protectedApp(
        { services: { users: { scrypt: { N: 2048, r: 8, p: 1 } } } },
        app,
      );
      other = restarted;
      expect(
        (await restarted.inject({ url: "/_/api/me", headers: basic(ADA, PW) })).statusCode,
      ).toBe(200);
      const after = (await users.getUserByEmail(ADA))!.passwordHash as string;
      expect(hashParams(before)?.N).toBe(1024);
      expect(hashParams(after)?.N).toBe(2048);
      expect(
        (await restarted.inject({ url: "/_/api/me", headers: basic(ADA, PW) })).statusCode,
      ).toBe(200);
    });
  });

  describe(`${dialect.name}: guessing defence over HTTP`, () => {
    const guessing = { freeFailures: 2, firstDelaySeconds: 30, blockAfter: 5 };

    it("makes an address wait (429 + Retry-After) after repeated failures, right password included", async () => {
      app = await protectedApp({ services: { users: { guessing } } });
      const from = { remoteAddress: "203.0.113.7" };
      for (let i = 0; i < 2; i++) {
        const res = await app.inject({
          url: "/_/api/me",
          headers: basic(ADA, `guess ${i}`),
          ...from,
        });
        expect(res.statusCode).toBe(401);
      }
      const res = await app.inject({ url: "/_/api/me", headers: basic(ADA, PW), ...from });
      expect(res.statusCode).toBe(429);
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(25);
      expect(res.json().error).toMatch(/try again/);
    });

    it("does not lock the owner out from their own address", async () => {
      app = await protectedApp({ services: { users: { guessing } } });
      for (let i = 0; i < 6; i++) {
        await app.inject({
          url: "/_/api/me",
          headers: basic(ADA, `guess ${i}`),
          remoteAddress: "203.0.113.7",
        });
      }
      const res = await app.inject({
        url: "/_/api/me",
        headers: basic(ADA, PW),
        remoteAddress: "198.51.100.1",
      });
      expect(res.statusCode).toBe(200);
    });

    it("throttles an unknown email exactly like a real one", async () => {
      app = await protectedApp({ services: { users: { guessing } } });
      const statuses = async (email: string) => {
        const out = [];
        for (let i = 0; i < 3; i++) {
          const res = await app.inject({ url: "/_/api/me", headers: basic(email, `guess ${i}`) });
          out.push(res.statusCode);
        }
        return out;
      };
      expect(await statuses(ADA)).toEqual([401, 401, 429]);
      expect(await statuses("nobody@example.com")).toEqual([401, 401, 429]);
    });
  });
}

describe("requireAuth", () => {
  it("true: Basic credentials must be present, and the handler sees them", async () => {
    app = usersApp();
    app.httpEndpoint("/check", { requireAuth: true }, () => ({
      username: request.username,
      password: request.password,
      user: request.user,
    }));
    const none = await app.inject({ url: "/_/api/check" });
    expect(none.statusCode).toBe(401);
    expect(none.headers["www-authenticate"]).toBe(CHALLENGE);
    const malformed = await app.inject({
      url: "/_/api/check",
      headers: { authorization: "Basic !" },
    });
    expect(malformed.statusCode).toBe(401);
    const res = await app.inject({ url: "/_/api/check", headers: basic("anyone", "any:thing") });
    expect(res.json()).toEqual({ username: "anyone", password: "any:thing", user: null });
  });

  it("a function checks the credentials; its result becomes request.user, falsy is a 401", async () => {
    app = usersApp();
    const seen: string[][] = [];
    app.httpEndpoint(
      "/ops",
      {
        requireAuth: async (username, password) => {
          seen.push([username, password]);
          return password === "letmein" ? { role: "ops", name: username } : null;
        },
      },
      () => ({ user: request.user, getUser: users.getUser() }),
    );
    const refused = await app.inject({ url: "/_/api/ops", headers: basic("sam", "nope") });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers["www-authenticate"]).toBe(CHALLENGE);
    const res = await app.inject({ url: "/_/api/ops", headers: basic("sam", "letmein") });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ user: { role: "ops", name: "sam" }, getUser: null });
    expect(seen).toEqual([
      ["sam", "nope"],
      ["sam", "letmein"],
    ]);
  });

  it("endpoints without auth options never ask for credentials", async () => {
    app = usersApp();
    app.httpEndpoint("/open", () => ({ user: users.getUser(), username: request.username }));
    const res = await app.inject({ url: "/_/api/open", headers: basic(ADA, PW) });
    expect(res.json()).toEqual({ user: null, username: null });
  });
});
