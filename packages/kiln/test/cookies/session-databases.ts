import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely } from "kysely";
import pg from "pg";
import type { AnyDB, Dialect } from "../../src/tables/dialect.ts";
import { postgresDialect } from "../../src/tables/dialects/postgres.ts";
import { sqliteDialect } from "../../src/tables/dialects/sqlite.ts";
import { PG_URL, pgTestsEnabled } from "../support/pg.ts";

/** A database for one test: Kysely on it, a URL an app can use, and how to throw it away. */
export interface ScratchDatabase {
  db: Kysely<unknown>;
  /** Kiln's dialect on it, for its system migrations. */
  dialect: Dialect;
  /** For `createApp({ databaseUrl })` (PostgreSQL only; SQLite apps use their data folder). */
  url: string | null;
  drop(): Promise<void>;
}

/**
 * SQLite always; PostgreSQL as KILN_TEST_PG decides (support/pg.ts, like every other suite) —
 * each test in a throwaway schema of the `test` database.
 */
export async function sessionDatabases(): Promise<
  { name: string; open: () => Promise<ScratchDatabase> }[]
> {
  const list = [{ name: "sqlite", open: openSqlite }];
  if (await pgTestsEnabled()) list.push({ name: "postgres", open: openPostgres });
  return list;
}

async function openSqlite(): Promise<ScratchDatabase> {
  const dir = mkdtempSync(join(tmpdir(), "kiln-sessions-"));
  const dialect = sqliteDialect(join(dir, "db.sqlite"));
  return {
    db: untyped(dialect.db),
    dialect,
    url: null,
    async drop() {
      await dialect.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<ScratchDatabase> {
  const schema = `kiln_sessions_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE SCHEMA ${schema}`);
  const url = `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const dialect = postgresDialect(url);
  return {
    db: untyped(dialect.db),
    dialect,
    url,
    async drop() {
      await dialect.close();
      await adminQuery(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** The dialect's Kysely as the stores take it (they name their own tables). */
function untyped(db: Kysely<AnyDB>): Kysely<unknown> {
  return db as unknown as Kysely<unknown>;
}
