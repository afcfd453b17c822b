import { KilnError } from "../errors.ts";
import type { Dialect } from "./dialect.ts";

/**
 * One step in the life of Kiln's own tables (sessions, login counters, tokens, tables
 * metadata; the task queue later). Every system table is named `_kiln_<name>`. A capability
 * declares its steps in order, never edits or removes a released one, and adds a new step for
 * each change (Kysely's migrator is the model).
 * @example
 * export const sessionsMigrations: SystemMigration[] = [
 *   { name: "sessions/1-create", up: async (dialect) => { await dialect.db.schema.createTable(...)... } },
 * ];
 */
export interface SystemMigration {
  /** Unique across Kiln, `<capability>/<n>-<what>`: recorded in `_kiln_migrations` once applied. */
  readonly name: string;
  /** Makes the change, on either database (`dialect.name` tells them apart where they differ). */
  up(dialect: Dialect): Promise<void>;
}

/** The table recording which system migrations ran: `name` and when (Unix ms). */
export const MIGRATIONS_TABLE = "_kiln_migrations";

type MigrationsDb = {
  [MIGRATIONS_TABLE]: { name: string; applied_at: number | string };
};

/**
 * Applies the migrations not yet recorded, in order, each recorded in the same transaction as
 * its change. Runs under the dialect's migration lock (PostgreSQL: an advisory lock; SQLite:
 * BEGIN IMMEDIATE), so processes starting together on one database apply each step once and
 * the others wait, then find it recorded. Joins the current transaction when called inside one
 * (the data tables' migration). Returns the names applied now.
 */
export function migrateSystemTables(
  dialect: Dialect,
  migrations: readonly SystemMigration[],
): Promise<string[]> {
  checkNames(migrations);
  const locked = async () => {
    // Taken again inside the data tables' migration, which holds it already: a no-op there.
    await dialect.lockForMigration();
    return applyPending(dialect, migrations);
  };
  if (dialect.inTransaction()) return locked();
  // After waiting for the lock, it must see what the process before it committed.
  return dialect.transaction(locked, { isolationLevel: "read committed" });
}

async function applyPending(
  dialect: Dialect,
  migrations: readonly SystemMigration[],
): Promise<string[]> {
  const db = dialect.db.withTables<MigrationsDb>();
  await db.schema
    .createTable(MIGRATIONS_TABLE)
    .ifNotExists()
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("applied_at", "bigint", (c) => c.notNull())
    .execute();
  const rows = await db
    .selectFrom(MIGRATIONS_TABLE)
    .select("name")
    .where(
      "name",
      "in",
      migrations.map((m) => m.name),
    )
    .execute();
  const applied = new Set(rows.map((row) => row.name));
  const now: string[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.name)) continue;
    try {
      await migration.up(dialect);
    } catch (error) {
      throw new KilnError(
        "KILN_MIGRATION_FAILED",
        `Kiln's system migration "${migration.name}" failed (nothing of it was kept): ${(error as Error).message}`,
        { cause: error },
      );
    }
    await db
      .insertInto(MIGRATIONS_TABLE)
      .values({ name: migration.name, applied_at: Date.now() })
      .execute();
    now.push(migration.name);
  }
  return now;
}

function checkNames(migrations: readonly SystemMigration[]): void {
  const seen = new Set<string>();
  for (const { name } of migrations) {
    if (seen.has(name)) throw new Error(`Two system migrations are named "${name}"`);
    seen.add(name);
  }
}

/**
 * For a system table that an earlier Kiln made under another name (`kiln_sessions` before
 * `_kiln_sessions`): renames it, rows and all, when the old one exists and the new one does
 * not. Then the migration's usual `create table if not exists` finds it there.
 */
export async function adoptTable(
  dialect: Dialect,
  oldName: string,
  newName: string,
): Promise<void> {
  if (!(await dialect.hasTable(oldName)) || (await dialect.hasTable(newName))) return;
  await dialect.renameTable(oldName, newName);
}

/**
 * Makes the one-column index `name` on `table`, taking over the index an earlier Kiln made
 * under `oldName` if it exists.
 */
export async function adoptIndex(
  dialect: Dialect,
  oldName: string,
  index: { name: string; table: string; column: string },
): Promise<void> {
  if (await dialect.hasIndex(oldName)) await dialect.releaseIndex(oldName, index.name);
  await dialect.db.schema
    .createIndex(index.name)
    .ifNotExists()
    .on(index.table)
    .column(index.column)
    .execute();
}
