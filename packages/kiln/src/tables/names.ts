import { createHash } from "node:crypto";

/**
 * Names in the database. A data table `tasks` is stored as `data_tasks`, so that it never
 * clashes with the internal tables of Kiln's services (sessions and the like). Columns keep
 * their names. Every name comes from the validated schema and is quoted by Kysely.
 */
export function physicalTable(table: string): string {
  return `data_${table}`;
}

export const TABLES_TABLE = "_kiln_tables";
export const COLUMNS_TABLE = "_kiln_columns";

/**
 * The unique index of `unique: true` columns and `unique:` lists: `uq_3_slug`, `uq_3_a-b`
 * (a hyphen cannot be part of a column name, so a list never takes a column's index name).
 */
export function uniqueIndexName(tableId: number, columns: readonly string[]): string {
  return indexName(tableId, columns.join("-"), true);
}

/** An index name within PostgreSQL's 63-byte limit (longer names get a hash suffix). */
export function indexName(tableId: number, column: string, unique: boolean): string {
  return shortened(`${unique ? "uq" : "ix"}_${tableId}_${column}`);
}

/**
 * The join table of a `links` column: one row per link, `(row_id, target_id, position)`.
 * Named by table id, as indexes are, so that it is Kiln's (the `_kiln_` prefix) and short.
 */
export function linksTable(tableId: number, column: string): string {
  return shortened(`_kiln_links_${tableId}_${column}`);
}

/** A name within PostgreSQL's 63-byte limit (longer ones get a hash suffix). */
export function shortened(name: string): string {
  if (name.length <= 63) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 8);
  return `${name.slice(0, 54)}_${hash}`;
}
