import { sql } from "kysely";
import type { Dialect } from "./dialect.ts";
import { COLUMNS_TABLE, TABLES_TABLE } from "./names.ts";
import type { SystemMigration } from "./system-migrations.ts";

/** What the database records about a data table: its id (part of every row id) and columns. */
export interface StoredTable {
  readonly id: number;
  /** Column name → declared type (`"text"`, `"link users"`), in the order they were added. */
  readonly columns: Map<string, string>;
}

/**
 * Kiln's own record of the data tables: `_kiln_tables` gives each table its id for good (row
 * ids start with it), `_kiln_columns` keeps each column's declared type, which the database's
 * types alone cannot tell apart (a `date` and a `text` are both text on SQLite). Run by the
 * data tables' migration, before it reads them.
 */
export const metadataMigrations: readonly SystemMigration[] = [
  {
    // Databases of Kiln 0.1 already have both tables (with these names): nothing to do there.
    name: "tables/1-metadata",
    up: async (dialect) => {
      await dialect.db.schema
        .createTable(TABLES_TABLE)
        .ifNotExists()
        .addColumn("id", dialect.idColumnType)
        .addColumn("name", "text", (c) => c.notNull().unique())
        .execute();
      await dialect.db.schema
        .createTable(COLUMNS_TABLE)
        .ifNotExists()
        .addColumn("table_id", "integer", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("position", "integer", (c) => c.notNull())
        .addPrimaryKeyConstraint(`${COLUMNS_TABLE}_pk`, ["table_id", "name"])
        .execute();
    },
  },
];

export async function loadMetadata(dialect: Dialect): Promise<Map<string, StoredTable>> {
  const tables = await dialect.db
    .selectFrom(TABLES_TABLE)
    .select(["id", "name"])
    .orderBy("id")
    .execute();
  const columns = await dialect.db
    .selectFrom(COLUMNS_TABLE)
    .select(["table_id", "name", "type"])
    .orderBy("table_id")
    .orderBy("position")
    .execute();
  const byId = new Map<number, StoredTable>();
  const result = new Map<string, StoredTable>();
  for (const t of tables) {
    const stored = { id: Number(t.id), columns: new Map<string, string>() };
    byId.set(stored.id, stored);
    result.set(String(t.name), stored);
  }
  for (const c of columns)
    byId.get(Number(c.table_id))?.columns.set(String(c.name), String(c.type));
  return result;
}

export async function registerTable(dialect: Dialect, name: string): Promise<number> {
  const row = await dialect.db
    .insertInto(TABLES_TABLE)
    .values({ name })
    .returning("id")
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

export async function registerColumn(
  dialect: Dialect,
  tableId: number,
  name: string,
  type: string,
): Promise<void> {
  await dialect.db
    .insertInto(COLUMNS_TABLE)
    .values({
      table_id: tableId,
      name,
      type,
      position: sql`(select coalesce(max(position), 0) + 1 from ${sql.table(COLUMNS_TABLE)} where table_id = ${tableId})`,
    })
    .execute();
}

export async function setColumnType(
  dialect: Dialect,
  tableId: number,
  name: string,
  type: string,
): Promise<void> {
  await dialect.db
    .updateTable(COLUMNS_TABLE)
    .set({ type })
    .where("table_id", "=", tableId)
    .where("name", "=", name)
    .execute();
}

export async function forgetColumn(dialect: Dialect, tableId: number, name: string) {
  await dialect.db
    .deleteFrom(COLUMNS_TABLE)
    .where("table_id", "=", tableId)
    .where("name", "=", name)
    .execute();
}

export async function forgetTable(dialect: Dialect, tableId: number) {
  await dialect.db.deleteFrom(COLUMNS_TABLE).where("table_id", "=", tableId).execute();
  await dialect.db.deleteFrom(TABLES_TABLE).where("id", "=", tableId).execute();
}
