import { sql } from "kysely";
import { BlobMedia, isMedia } from "../http/media.ts";
import { storedValue } from "./column-values.ts";
import type { Dialect } from "./dialect.ts";
import { groupLinkLists, insertLinksQuery, linkListsQuery, linkRowsOf } from "./links-store.ts";
import { decodeMedia } from "./media-codec.ts";
import { indexName, linksTable, physicalTable, uniqueIndexName } from "./names.ts";
import { ROW_REF } from "./row-ref.ts";
import type { ColumnSchema, TableSchema } from "./schema.ts";

const PAGE = 500;

/**
 * Changes a column's type, keeping every value that converts (see convertValue) and setting
 * the others to null: the new column is filled beside the old one, a page at a time, then
 * takes its place (a `links` column's values are its join table's rows). Unique indexes on the
 * column are dropped first: the migration makes them again over the converted values,
 * refusing duplicates. Returns how many non-null values could not be converted.
 */
export async function retypeColumn(
  dialect: Dialect,
  tableId: number,
  table: TableSchema,
  from: ColumnSchema,
  to: ColumnSchema,
): Promise<number> {
  const db = dialect.db;
  const physical = physicalTable(table.name);
  const links = linksTable(tableId, to.name);
  for (const unique of table.uniques) {
    if (!unique.columns.includes(to.name)) continue;
    await db.schema.dropIndex(uniqueIndexName(tableId, unique.columns)).ifExists().execute();
  }
  if (from.kind === "links" && to.kind === "links") {
    // Links to another table: none converts.
    const { rows } = await sql<{
      n: unknown;
    }>`select count(distinct row_id) as n from ${sql.table(links)}`.execute(db);
    await dialect.dropLinksTable(links);
    await dialect.createLinksTable(links, physical, physicalTable(to.target!));
    return Number(rows[0]?.n ?? 0);
  }
  const temp = `_kiln_new_${to.name}`;
  const target = to.kind === "links" ? physicalTable(to.target!) : "";
  if (to.kind === "links") await dialect.createLinksTable(links, physical, target);
  else await db.schema.alterTable(physical).addColumn(temp, dialect.columnType(to.kind)).execute();
  let lost = 0;
  let last = 0;
  for (;;) {
    const rows = await db
      .selectFrom(physical)
      .select(from.kind === "links" ? ["id"] : ["id", sql.ref(from.name).as("value")])
      .where("id", ">", last)
      .orderBy("id")
      .limit(PAGE)
      .execute();
    const ids = rows.map((row) => Number(row.id));
    const lists =
      from.kind === "links" && ids.length
        ? groupLinkLists((await linkListsQuery(dialect, links, ids).execute(db)).rows)
        : null;
    const linkRows: [number, number, number][] = [];
    for (const row of rows) {
      const rowId = Number(row.id);
      const old = lists ? (lists.get(rowId) ?? null) : decode(dialect, from, row.value);
      if (old === null) continue;
      const converted = convertValue(old, from, to);
      if (converted === null) {
        lost++;
        continue;
      }
      const stored = storedValue(table.name, to, converted);
      if (to.kind === "links") {
        linkRows.push(...linkRowsOf(rowId, [...new Set(stored as number[])]));
        continue;
      }
      await db
        .updateTable(physical)
        .set({ [temp]: dialect.toDb(to.kind, stored) })
        .where("id", "=", rowId)
        .execute();
    }
    if (linkRows.length) await insertLinksQuery(dialect, links, target, linkRows).execute(db);
    if (rows.length < PAGE) break;
    last = ids[ids.length - 1]!;
  }
  if (from.kind === "links") {
    await dialect.dropLinksTable(links);
  } else {
    await db.schema
      .dropIndex(indexName(tableId, from.name, false))
      .ifExists()
      .execute();
    await db.schema.alterTable(physical).dropColumn(from.name).execute();
  }
  if (to.kind !== "links") {
    await db.schema.alterTable(physical).renameColumn(temp, to.name).execute();
  }
  return lost;
}

function decode(dialect: Dialect, column: ColumnSchema, raw: unknown): unknown {
  const value = dialect.fromDb(column.kind, raw);
  return column.kind === "media" && value !== null ? decodeMedia(value as Uint8Array) : value;
}

/**
 * A value of one column type as another, or null when there is no faithful conversion:
 * numbers, booleans, dates and JSON to and from text; date ↔ datetime (midnight UTC);
 * link ↔ links to the same table. A link to another table is never kept.
 */
export function convertValue(value: unknown, from: ColumnSchema, to: ColumnSchema): unknown {
  const kind = to.kind;
  if ((from.kind === "link" || from.kind === "links") !== (kind === "link" || kind === "links")) {
    return null;
  }
  if (kind === "link" || kind === "links") {
    if (from.target !== to.target) return null;
    const ids = Array.isArray(value) ? value : [value];
    return kind === "links"
      ? ids.map((rowId) => linkStub(to, rowId))
      : ids.length
        ? linkStub(to, ids[0])
        : null;
  }
  switch (kind) {
    case "text":
      if (value instanceof Date) return value.toISOString();
      if (isMedia(value)) return value.contentType.startsWith("text/") ? value.getText() : null;
      return typeof value === "object" ? JSON.stringify(value) : String(value);
    case "number":
      if (typeof value === "boolean") return value ? 1 : 0;
      if (value instanceof Date) return value.getTime();
      if (typeof value === "string" && value.trim() !== "") {
        const n = Number(value);
        return Number.isFinite(n) ? n : null;
      }
      return typeof value === "number" ? value : null;
    case "bool":
      if (typeof value === "number") return value !== 0;
      if (value === "true" || value === "false") return value === "true";
      return typeof value === "boolean" ? value : null;
    case "date":
      if (value instanceof Date) return value.toISOString().slice(0, 10);
      return typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value)
        ? value.slice(0, 10)
        : null;
    case "datetime":
      if (typeof value === "number") return new Date(value);
      if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) {
        return new Date(`${value}T00:00:00Z`);
      }
      return typeof value === "string"
        ? acceptable(to, value)
        : value instanceof Date
          ? value
          : null;
    case "object":
      return isMedia(value) ? null : value instanceof Date ? value.toISOString() : value;
    case "media":
      return typeof value === "string" ? new BlobMedia("text/plain; charset=utf-8", value) : null;
  }
  return null;
}

/** The value when the target column accepts it as is, else null. */
function acceptable(to: ColumnSchema, value: unknown): unknown {
  try {
    storedValue("", to, value);
    return value;
  } catch {
    return null;
  }
}

/** Just enough of a row for storedValue to take its id. */
function linkStub(to: ColumnSchema, rowId: unknown) {
  return { [ROW_REF]: { table: to.target, tableId: 0, rowId } };
}
