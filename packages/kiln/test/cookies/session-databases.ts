import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { PG_URL, pgTestsEnabled } from "../support/pg.ts";

/** A database for one test: Kysely on it, a URL an app can use, and how to throw it away. */
export interface ScratchDatabase {
  db: Kysely<unknown>;
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
  const database = new Database(join(dir, "db.sqlite"));
  database.pragma("journal_mode = WAL");
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database }) });
  return {
    db,
    url: null,
    async drop() {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<ScratchDatabase> {
  const schema = `kiln_sessions_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE SCHEMA ${schema}`);
  const options = `-c search_path=${schema}`;
  const pool = new pg.Pool({ connectionString: PG_URL, options, max: 2 });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    url: `${PG_URL}?options=${encodeURIComponent(options)}`,
    async drop() {
      await db.destroy();
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
