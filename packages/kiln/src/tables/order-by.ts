import { type RawBuilder, type SqlBool, sql } from "kysely";
import { details } from "./column-values.ts";
import { TableError } from "./errors.ts";
import type { FilterTable } from "./filters.ts";

/** One sort key: a column (or the row id) and its direction. */
export interface SortKey {
  readonly column: string;
  readonly ascending: boolean;
}

const SORTABLE = new Set(["text", "number", "bool", "date", "datetime"]);

/**
 * The sort keys of `orderBy`, checked against the schema, with the row id last so that the
 * order is total (pages never overlap or skip rows).
 */
export function sortKeys(table: FilterTable, orderBy: unknown): readonly SortKey[] {
  // Most searches give no order: one shared list, and its cache key already made.
  if (orderBy === undefined || orderBy === null) return BY_ID;
  const entries =
    orderBy === undefined || orderBy === null ? [] : Array.isArray(orderBy) ? orderBy : [orderBy];
  const keys: SortKey[] = entries.map((entry) => {
    const spec = typeof entry === "string" ? { column: entry, ascending: true } : entry;
    if (typeof spec !== "object" || spec === null || typeof spec.column !== "string") {
      throw new TableError(
        "KILN_BAD_QUERY",
        `orderBy on ${table.name}: expected "column" or { column, ascending }`,
        { table: table.name },
      );
    }
    const column = table.byName.get(spec.column);
    if (!column) {
      throw new TableError(
        "KILN_UNKNOWN_COLUMN",
        `Table ${table.name} has no column "${spec.column}" to order by; columns: ${[...table.byName.keys()].join(", ")}`,
        { table: table.name, column: spec.column },
      );
    }
    if (!SORTABLE.has(column.kind)) {
      throw new TableError(
        "KILN_BAD_QUERY",
        `Cannot order ${table.name} by ${column.name}, a ${column.type} column (text, number, bool, date and datetime columns can be ordered)`,
        details(table.name, column),
      );
    }
    return { column: column.name, ascending: spec.ascending !== false };
  });
  keys.push({ column: "id", ascending: true });
  return keys;
}

/** The keys as text, part of a cache key: `title-,id+`. */
/** The order of a search that gives none: by id. */
const BY_ID: readonly SortKey[] = Object.freeze([Object.freeze({ column: "id", ascending: true })]);

export function sortKeysKey(keys: readonly SortKey[]): string {
  if (keys === BY_ID) return "id+";
  return keys.map((k) => `${k.column}${k.ascending ? "+" : "-"}`).join(",");
}

/**
 * ORDER BY for the keys. Null sorts as the smallest value on every backend (first when
 * ascending, last when descending), which SQLite does by default and PostgreSQL must be told.
 */
export function orderByClause(keys: readonly SortKey[]): RawBuilder<unknown> {
  return sql.join(
    keys.map((k) =>
      k.ascending
        ? sql`${sql.ref(k.column)} asc nulls first`
        : sql`${sql.ref(k.column)} desc nulls last`,
    ),
  );
}

/**
 * The rows after `last` in this order (keyset paging): each page starts where the previous
 * ended, so a scan costs the same per page however deep it goes, and rows added or deleted
 * meanwhile never make it repeat or skip a row. `last` holds the database values of the keys.
 */
export function afterClause(
  keys: readonly SortKey[],
  last: Record<string, unknown>,
): RawBuilder<SqlBool> {
  const terms: RawBuilder<SqlBool>[] = [];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const after = afterKey(key, last[key.column]);
    if (!after) continue;
    const equal = keys.slice(0, i).map((k) => equalKey(k, last[k.column]));
    terms.push(sql<SqlBool>`(${sql.join([...equal, after], sql` and `)})`);
  }
  return terms.length ? sql<SqlBool>`(${sql.join(terms, sql` or `)})` : sql<SqlBool>`1 = 0`;
}

function equalKey(key: SortKey, value: unknown): RawBuilder<SqlBool> {
  const ref = sql.ref(key.column);
  return value === null ? sql<SqlBool>`${ref} is null` : sql<SqlBool>`${ref} = ${value}`;
}

function afterKey(key: SortKey, value: unknown): RawBuilder<SqlBool> | null {
  const ref = sql.ref(key.column);
  if (key.ascending) {
    return value === null ? sql<SqlBool>`${ref} is not null` : sql<SqlBool>`${ref} > ${value}`;
  }
  return value === null ? null : sql<SqlBool>`(${ref} < ${value} or ${ref} is null)`;
}
