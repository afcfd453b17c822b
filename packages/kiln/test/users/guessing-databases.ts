import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";

/** A Kysely database of its own for one test, and how to throw it away. */
export interface ScratchDb {
  db: Kysely<unknown>;
  /** A second connection to the same database: another process, as far as Kiln can tell. */
  another(): Kysely<unknown>;
  drop(): Promise<void>;
}

/**
 * The backends the guessing defence is tested on: SQLite always; PostgreSQL when KILN_TEST_PG
 * is set (required in CI) — in a throwaway schema of the `test` database.
 */
export function scratchDatabases(): { name: string; open: () => Promise<ScratchDb> }[] {
  const list = [{ name: "sqlite", open: openSqlite }];
  if (process.env.KILN_TEST_PG) list.push({ name: "postgres", open: openPostgres });
  return list;
}

async function openSqlite(): Promise<ScratchDb> {
  const dir = mkdtempSync(join(tmpdir(), "kiln-users-"));
  const file = join(dir, "db.sqlite");
  const connect = () => {
    const database = new Database(file);
    database.pragma("journal_mode = WAL");
    database.pragma("busy_timeout = 5000");
    return new Kysely<unknown>({ dialect: new SqliteDialect({ database }) });
  };
  const opened: Kysely<unknown>[] = [connect()];
  return {
    db: opened[0]!,
    another: () => {
      const db = connect();
      opened.push(db);
      return db;
    },
    async drop() {
      for (const db of opened) await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<ScratchDb> {
  const schema = `kiln_users_${randomBytes(6).toString("hex")}`;
  const url = process.env.KILN_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const connect = () =>
    new Kysely<unknown>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: url, options: `-c search_path=${schema}`, max: 4 }),
      }),
    });
  const opened: Kysely<unknown>[] = [connect()];
  return {
    db: opened[0]!,
    another: () => {
      const db = connect();
      opened.push(db);
      return db;
    },
    async drop() {
      for (const db of opened) await db.destroy();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}
