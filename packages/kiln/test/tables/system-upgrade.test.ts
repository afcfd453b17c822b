import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createApp, type KilnApp, users } from "../../src/index.ts";
import type { Dialect } from "../../src/tables/dialect.ts";
import { MIGRATIONS_TABLE } from "../../src/tables/system-migrations.ts";
import { FIXTURE_CONFIG, type FixtureFacts } from "../fixtures/main-0.2/config.ts";
import { createPgSchema, pgTestsEnabled } from "../support/pg.ts";

/*
 * A database made by Kiln 0.2 before its own tables were renamed `_kiln_<name>` and put under
 * system migrations (test/fixtures/main-0.2, made by make-main-0.2.ts with that code): a
 * session, an API token, a user with password failures and a data row. Opened by today's
 * code, it is upgraded in place and keeps all of them.
 */

const FIXTURES = join(import.meta.dirname, "../fixtures/main-0.2");
const runPg = await pgTestsEnabled();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface OldDatabase {
  dataDir: string;
  databaseUrl?: string;
  facts: FixtureFacts;
}

const backends: {
  name: string;
  open(): Promise<OldDatabase>;
  /** An empty database of the same backend, for today's code to make from scratch. */
  fresh(): Promise<OldDatabase>;
}[] = [
  {
    name: "sqlite",
    async open() {
      const dataDir = mkdtempSync(join(tmpdir(), "kiln-upgrade-"));
      cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
      copyFileSync(join(FIXTURES, "sqlite/app.db"), join(dataDir, "app.db"));
      return { dataDir, facts: facts("sqlite") };
    },
    async fresh() {
      const dataDir = mkdtempSync(join(tmpdir(), "kiln-upgrade-fresh-"));
      cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
      return { dataDir, facts: facts("sqlite") };
    },
  },
];
if (runPg) {
  backends.push({
    name: "postgres",
    async open() {
      const dataDir = mkdtempSync(join(tmpdir(), "kiln-upgrade-pg-"));
      const { url, drop } = await createPgSchema();
      cleanups.push(drop, () => rmSync(dataDir, { recursive: true, force: true }));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(readFileSync(join(FIXTURES, "postgres/database.sql"), "utf8"));
      } finally {
        await client.end();
      }
      return { dataDir, databaseUrl: url, facts: facts("postgres") };
    },
    async fresh() {
      const dataDir = mkdtempSync(join(tmpdir(), "kiln-upgrade-fresh-pg-"));
      const { url, drop } = await createPgSchema();
      cleanups.push(drop, () => rmSync(dataDir, { recursive: true, force: true }));
      return { dataDir, databaseUrl: url, facts: facts("postgres") };
    },
  });
}

function facts(backend: string): FixtureFacts {
  return JSON.parse(readFileSync(join(FIXTURES, backend, "fixture.json"), "utf8"));
}

function openApp(old: OldDatabase): KilnApp {
  const app = createApp({
    ...FIXTURE_CONFIG,
    dataDir: old.dataDir,
    databaseUrl: old.databaseUrl,
    logger: false,
  });
  app.httpEndpoint("/me", { authenticateUsers: true }, () => ({
    email: users.getUser()?.email,
    failures: users.getUser()?.nPasswordFailures,
  }));
  cleanups.push(() => app.close());
  return app;
}

/** The app's database dialect (the tables service has it; its public interface does not say). */
function dialectOf(app: KilnApp): Dialect {
  return app.services.tables!.dialect;
}

/** Tables with their columns, indexes and constraints, by name (the schema's own, on PostgreSQL). */
async function describeSchema(dialect: Dialect): Promise<unknown[]> {
  const query =
    dialect.name === "sqlite"
      ? sql`select m.type, m.name, m.tbl_name as "table", group_concat(c.name || ' ' || c.type || ' ' || c."notnull" || ' ' || c.pk, ', ') as detail
          from sqlite_master m left join pragma_table_info(m.name) c
          group by m.type, m.name order by m.type, m.name`
      : sql`select 'column' as type, table_name || '.' || column_name as name, data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') as detail
            from information_schema.columns where table_schema = current_schema()
          union all select 'table', tablename, '' from pg_tables where schemaname = current_schema()
          union all select 'index', indexname, indexdef from pg_indexes where schemaname = current_schema()
          union all select 'constraint', conname, contype::text || ' ' || conrelid::regclass::text from pg_constraint
            where connamespace = current_schema()::regnamespace
          order by 1, 2`;
  const { rows } = await query.execute(dialect.db);
  // PostgreSQL's index definitions name the schema, which differs between the two databases.
  return JSON.parse(JSON.stringify(rows).replace(/kiln_test_[0-9a-f]+\./g, ""));
}

async function tableNames(app: KilnApp): Promise<string[]> {
  const names: string[] = [];
  for (const name of [
    "kiln_sessions",
    "kiln_api_tokens",
    "kiln_login_failures",
    "_kiln_sessions",
    "_kiln_api_tokens",
    "_kiln_login_failures",
    "_kiln_tables",
    "_kiln_columns",
    MIGRATIONS_TABLE,
  ]) {
    if (await dialectOf(app).hasTable(name)) names.push(name);
  }
  return names;
}

for (const backend of backends) {
  describe(`${backend.name}: a database made by Kiln 0.2 before system migrations`, () => {
    it("is upgraded in place, keeping sessions, tokens, login counters and data", async () => {
      const old = await backend.open();
      const app = openApp(old);
      await app.ready();

      // The session cookie of the old database still logs ada in, and her token still works.
      const bySession = await app.inject({
        url: "/_/api/me",
        headers: { cookie: old.facts.cookie },
      });
      expect(bySession.statusCode).toBe(200);
      expect(bySession.json()).toMatchObject({ email: old.facts.user });
      const byToken = await app.inject({
        url: "/_/api/me",
        headers: { authorization: `Bearer ${old.facts.token}` },
      });
      expect(byToken.statusCode).toBe(200);
      expect(byToken.json()).toMatchObject({ email: old.facts.user });

      // The old tables were renamed, not copied: one set of system tables, under one scheme.
      expect((await tableNames(app)).sort()).toEqual(
        [
          "_kiln_api_tokens",
          "_kiln_columns",
          "_kiln_login_failures",
          "_kiln_migrations",
          "_kiln_sessions",
          "_kiln_tables",
        ].sort(),
      );
      const db = app.services.tables!.db;
      const { rows: counters } = await sql<{
        address: string;
        failures: number;
      }>`select address, failures from _kiln_login_failures where failures > 0 order by address`.execute(
        db,
      );
      expect(counters.map((r) => [r.address, Number(r.failures)])).toEqual([
        ["*", 2],
        ["203.0.113.7", 2],
      ]);
      const { rows: tokens } = await sql<{
        name: string;
      }>`select name from _kiln_api_tokens`.execute(db);
      expect(tokens.map((r) => r.name)).toEqual(["fixture"]);
      // Their indexes too.
      for (const [index, exists] of [
        ["_kiln_sessions_expires_at", true],
        ["_kiln_api_tokens_user_row", true],
        ["kiln_sessions_expires_at", false],
        ["kiln_api_tokens_user_row", false],
      ] as const) {
        expect([index, await dialectOf(app).hasIndex(index)]).toEqual([index, exists]);
      }

      // Data rows and table ids (part of every row id) are as they were.
      const tables = app.services.tables!;
      const notes = await tables.tables.notes!.search({}).toArray();
      expect(notes.map((n) => n.title)).toEqual(["kept across the upgrade"]);
      const bob = await app.users.getUserByEmail(old.facts.failing);
      expect(bob?.nPasswordFailures).toBe(2);

      // The upgraded database looks as one made from scratch by today's code: the same
      // tables, columns, indexes and constraints, under the same names.
      const freshApp = openApp(await backend.fresh());
      await freshApp.ready();
      expect(await describeSchema(dialectOf(app))).toEqual(
        await describeSchema(dialectOf(freshApp)),
      );
      // One naming scheme: every table is a data table or one of Kiln's own, `_kiln_<name>`.
      const names = (await describeSchema(dialectOf(freshApp)))
        .map((row) => row as { type: string; name: string })
        .filter((row) => row.type === "table")
        .map((row) => row.name);
      // (SQLite keeps AUTOINCREMENT counters in its own sqlite_sequence.)
      expect(names.filter((name) => !/^(data_|_kiln_|sqlite_)[a-z]/.test(name))).toEqual([]);
      await app.close();

      // A second start finds every migration recorded and changes nothing.
      const again = openApp(old);
      const res = await again.inject({ url: "/_/api/me", headers: { cookie: old.facts.cookie } });
      expect(res.statusCode).toBe(200);
    }, 30_000);
  });
}
