import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { createPgSchema, pgTestsEnabled } from "../support/pg.ts";

/** A Kysely database of its own for one test, and how to throw it away. */
export interface ScratchDb {
  db: Kysely<unknown>;
  /** A second connection to the same database: another process, as far as Kiln can tell. */
  another(): Kysely<unknown>;
  drop(): Promise<void>;
}

/**
 * The backends the guessing defence is tested on: SQLite always; PostgreSQL as the rest of the
 * suite decides (KILN_TEST_PG, see support/pg.ts), in a throwaway schema of the `test` database.
 */
export async function scratchDatabases(): Promise<
  { name: string; open: () => Promise<ScratchDb> }[]
> {
  const list = [{ name: "sqlite", open: openSqlite }];
  if (await pgTestsEnabled()) list.push({ name: "postgres", open: openPostgres });
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
  const { url, drop } = await createPgSchema();
  const connect = () =>
    new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 4 }) }),
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
      await drop();
    },
  };
}
