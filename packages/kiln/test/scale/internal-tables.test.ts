import { join } from "node:path";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { sessionsMigrations } from "../../src/cookies/session-store.ts";
import type { Dialect } from "../../src/tables/dialect.ts";
import { postgresDialect } from "../../src/tables/dialects/postgres.ts";
import { sqliteDialect } from "../../src/tables/dialects/sqlite.ts";
import { metadataMigrations } from "../../src/tables/metadata.ts";
import {
  MIGRATIONS_TABLE,
  migrateSystemTables,
  type SystemMigration,
} from "../../src/tables/system-migrations.ts";
import { usersMigrations } from "../../src/users/users-service.ts";
import { createPgSchema, pgTestsEnabled } from "../support/pg.ts";
import { call, serve, tempDir } from "./processes.ts";

/*
 * Kiln's own tables are made on start by the system migrations. Processes starting at the same
 * moment on one fresh database must all come up, each step applied once: without the lock,
 * PostgreSQL's CREATE ... IF NOT EXISTS races (all but one fail on the catalogue's unique
 * index) and two processes would both record a step. Each dialect here is a process as far as
 * the database can tell (its own connections; on SQLite, its own file handle).
 */

const PROCESSES = 6;
const runPg = await pgTestsEnabled();
const ALL: readonly (readonly SystemMigration[])[] = [
  metadataMigrations,
  sessionsMigrations,
  usersMigrations,
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// On SQLite the processes must be real ones: better-sqlite3 waits for a lock synchronously,
// so two connections in one thread would wait on each other (see the test at the end).
const backends: { name: string; open(): Promise<() => Dialect> }[] = [];
if (runPg) {
  backends.push({
    name: "postgres",
    async open() {
      const { url, drop } = await createPgSchema();
      cleanups.push(drop);
      return () => postgresDialect(url);
    },
  });
}

for (const backend of backends) {
  describe(`${backend.name}: Kiln's own tables made by processes starting together`, () => {
    it("every process comes up, and each migration is applied once", async () => {
      const open = await backend.open();
      const dialects = Array.from({ length: PROCESSES }, open);
      cleanups.push(async () => {
        await Promise.all(dialects.map((d) => d.close()));
      });
      // Each process runs the capabilities' migrations in start order, as an app does.
      const results = await Promise.allSettled(
        dialects.map(async (dialect) => {
          const applied: string[] = [];
          for (const list of ALL) applied.push(...(await migrateSystemTables(dialect, list)));
          return applied;
        }),
      );
      expect(results.filter((r) => r.status === "rejected")).toEqual([]);
      const applied = results.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
      const names = ALL.flat().map((m) => m.name);
      expect(applied.sort()).toEqual([...names].sort());
      const { rows } = await sql<{
        name: string;
      }>`select name from ${sql.table(MIGRATIONS_TABLE)} order by name`.execute(dialects[0]!.db);
      expect(rows.map((r) => r.name)).toEqual([...names].sort());
      for (const table of ["_kiln_sessions", "_kiln_login_failures", "_kiln_api_tokens"]) {
        expect(await dialects[0]!.hasTable(table)).toBe(true);
      }
    }, 30_000);
  });
}

describe("sqlite: two kiln processes starting at once on one fresh data folder", () => {
  it("both come up, and each migration is applied once", async () => {
    const folder = tempDir("kiln-system-sqlite-");
    cleanups.push(async () => folder.remove());
    const env = { KILN_SECRET: "one secret for both processes" };
    const started = await Promise.allSettled([0, 1].map(() => serve({ data: folder.dir, env })));
    const running = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    cleanups.push(async () => {
      await Promise.all(running.map((served) => served.kiln.stop()));
    });
    expect(started.filter((s) => s.status === "rejected")).toEqual([]);
    for (const { api } of running) {
      expect((await call(api.replace(/\/_\/api$/, "/_/health"))).status).toBe(200);
    }
    const dialect = sqliteDialect(join(folder.dir, "app.db"));
    cleanups.push(() => dialect.close());
    const { rows } = await sql<{
      name: string;
    }>`select name from ${sql.table(MIGRATIONS_TABLE)} order by name`.execute(dialect.db);
    expect(rows.map((r) => r.name)).toEqual(
      ALL.flat()
        .map((m) => m.name)
        .sort(),
    );
  }, 90_000);
});
