import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely } from "kysely";
import type { AnyDB, Dialect } from "../../src/tables/dialect.ts";
import { postgresDialect } from "../../src/tables/dialects/postgres.ts";
import { sqliteDialect } from "../../src/tables/dialects/sqlite.ts";
import { createPgSchema, pgTestsEnabled } from "../support/pg.ts";

/** A Kysely database of its own for one test, and how to throw it away. */
export interface ScratchDb {
  db: Kysely<unknown>;
  /** Kiln's dialect on it, for its system migrations. */
  dialect: Dialect;
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
  const opened: Dialect[] = [sqliteDialect(file)];
  return {
    db: untyped(opened[0]!.db),
    dialect: opened[0]!,
    another: () => {
      const dialect = sqliteDialect(file);
      opened.push(dialect);
      return untyped(dialect.db);
    },
    async drop() {
      for (const dialect of opened) await dialect.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<ScratchDb> {
  const { url, drop } = await createPgSchema();
  const opened: Dialect[] = [postgresDialect(url)];
  return {
    db: untyped(opened[0]!.db),
    dialect: opened[0]!,
    another: () => {
      const dialect = postgresDialect(url);
      opened.push(dialect);
      return untyped(dialect.db);
    },
    async drop() {
      for (const dialect of opened) await dialect.close();
      await drop();
    },
  };
}

/** The dialect's Kysely as the stores take it (they name their own tables). */
function untyped(db: Kysely<AnyDB>): Kysely<unknown> {
  return db as unknown as Kysely<unknown>;
}
