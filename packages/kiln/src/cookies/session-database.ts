import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";

/**
 * A database for sessions when the app has no tables service to lend its own: PostgreSQL when
 * `DATABASE_URL` says so, else a SQLite file in the data folder (WAL, so several processes
 * share it), else (no data folder: a throwaway test app) an in-memory SQLite database.
 */
export async function openSessionDatabase(app: {
  databaseUrl: string | null;
  dataDir: string | null;
}): Promise<{ db: Kysely<unknown>; close(): Promise<void> }> {
  let db: Kysely<unknown>;
  if (app.databaseUrl && /^postgres(ql)?:\/\//.test(app.databaseUrl)) {
    const pool = new pg.Pool({ connectionString: app.databaseUrl, max: 4 });
    db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  } else {
    let file = ":memory:";
    if (app.dataDir) {
      mkdirSync(app.dataDir, { recursive: true });
      file = join(app.dataDir, "sessions.sqlite");
    }
    const sqlite = new Database(file);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("busy_timeout = 5000");
    db = new Kysely({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  return { db, close: () => db.destroy() };
}
