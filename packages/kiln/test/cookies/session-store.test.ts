import { afterEach, describe, expect, it } from "vitest";
import {
  KyselySessionStore,
  sessionsMigrations,
  tokenHash,
} from "../../src/cookies/session-store.ts";
import { session } from "../../src/index.ts";
import { migrateSystemTables } from "../../src/tables/system-migrations.ts";
import { cookieApp, type TestApp, TestJar } from "./cookie-test-app.ts";
import { type ScratchDatabase, sessionDatabases } from "./session-databases.ts";

const T0 = 1_763_000_000_000; // Unix ms: beyond 32 bits, as real timestamps are.
const record = (data: Record<string, unknown>, expiresAt = T0 + 60_000) => ({
  data,
  createdAt: T0,
  lastSeenAt: T0,
  expiresAt,
});

for (const backend of await sessionDatabases()) {
  describe(`session store on ${backend.name}`, () => {
    let scratch: ScratchDatabase;
    let app: TestApp | undefined;
    afterEach(async () => {
      await app?.cleanup();
      app = undefined;
      await scratch?.drop();
    });

    async function store(): Promise<KyselySessionStore> {
      scratch = await backend.open();
      await migrateSystemTables(scratch.dialect, sessionsMigrations);
      // Every process runs it on start: the second time finds it recorded.
      expect(await migrateSystemTables(scratch.dialect, sessionsMigrations)).toEqual([]);
      return new KyselySessionStore(scratch.db);
    }

    it("stores, loads, updates and deletes sessions keyed by a hash of the token", async () => {
      const s = await store();
      await s.create("token-1", record({ user: "[1,2]", n: 1 }));
      expect(await s.load("token-1", T0)).toEqual(record({ user: "[1,2]", n: 1 }));
      expect(await s.ids()).toEqual([tokenHash("token-1")]);
      expect(await s.update("token-1", { ...record({ n: 2 }), lastSeenAt: T0 + 5 })).toBe(true);
      expect(await s.load("token-1", T0)).toMatchObject({ data: { n: 2 }, lastSeenAt: T0 + 5 });
      await s.delete("token-1");
      expect(await s.load("token-1", T0)).toBeNull();
      expect(await s.update("token-1", record({ n: 3 }))).toBe(false);
      expect(await s.count()).toBe(0);
    });

    it("deletes a session only in the version expected, and says whether it deleted one", async () => {
      const s = await store();
      await s.create("token-1", record({ user: "1", n: 1 }));
      expect(await s.delete("token-1", { user: "1", n: 0 })).toBe(false);
      expect(await s.load("token-1", T0)).toMatchObject({ data: { user: "1", n: 1 } });
      expect(await s.delete("token-1", { user: "1", n: 1 })).toBe(true);
      expect(await s.delete("token-1")).toBe(false);
      expect(await s.count()).toBe(0);
    });

    it("treats an expired session as absent, and cleanup deletes only expired ones", async () => {
      const s = await store();
      await s.create("old", record({}, T0 + 10));
      await s.create("new", record({}, T0 + 1000));
      expect(await s.load("old", T0 + 10)).toBeNull();
      await s.touch("new", T0 + 500, T0 + 2000);
      expect(await s.load("new", T0 + 1500)).toMatchObject({ lastSeenAt: T0 + 500 });
      expect(await s.deleteExpired(T0 + 1500)).toBe(1);
      expect(await s.count()).toBe(1);
    });

    it("refuses a second session under the same token", async () => {
      const s = await store();
      await s.create("dup", record({}));
      await expect(s.create("dup", record({}))).rejects.toThrow();
    });

    it.runIf(backend.name === "postgres")(
      "serves an app whose DATABASE_URL is PostgreSQL",
      async () => {
        scratch = await backend.open();
        app = cookieApp({ databaseUrl: scratch.url ?? "" });
        app.httpEndpoint("/count", () => {
          const n = (session.get<number>("n") ?? 0) + 1;
          session.set("n", n);
          return n;
        });
        const jar = new TestJar();
        await jar.send(app, "/_/api/count");
        expect((await jar.send(app, "/_/api/count")).body).toBe("2");
        const rows = await new KyselySessionStore(scratch.db).count();
        expect(rows).toBe(1);
      },
    );
  });
}
