import { type RawBuilder, type SqlBool, sql } from "kysely";
import { badValue, describe, details, storedValue } from "./column-values.ts";
import type { Dialect } from "./dialect.ts";
import { TableError } from "./errors.ts";
import { linksTable, physicalTable } from "./names.ts";
import { isQuery, type Query } from "./query.ts";
import { type RowImpl, VALUES } from "./row.ts";
import { parseRowId, rowRef } from "./row-ref.ts";
import type { ColumnSchema } from "./schema.ts";

/** What compiling filters needs to know about the table searched. */
export interface FilterTable {
  readonly name: string;
  /** The table's id, the first number of its row ids (for filters on `id`). */
  readonly tableId: number;
  readonly byName: ReadonlyMap<string, ColumnSchema>;
}

type Condition = RawBuilder<SqlBool>;

const TRUE: Condition = sql<SqlBool>`1 = 1`;
const FALSE: Condition = sql<SqlBool>`1 = 0`;
const ORDERED = new Set(["text", "number", "date", "datetime"]);
/**
 * Most words in one `q.fullTextMatch`: each is a LIKE over the column, so the work grows with
 * the words, and a search box holding a megabyte would build a statement that SQLite refuses
 * (expression too deep) after PostgreSQL has scanned with thousands of patterns.
 */
export const MAX_FULL_TEXT_WORDS = 64;

/**
 * Turns search filters into a WHERE condition, or null for "every row". Filters are
 * `{ column: value | q.operator(...) }` (ANDed), or a `q.anyOf/allOf/noneOf/not` of such
 * objects at the top. Columns are checked against the schema and every value against its
 * column's type; values are always parameters, names quoted by Kysely.
 */
export function compileFilters(
  dialect: Dialect,
  table: FilterTable,
  filters: unknown,
): Condition | null {
  if (filters === undefined || filters === null) return null;
  return new FilterCompiler(dialect, table).top(filters);
}

/**
 * The filters of a search, compiled. Most searches are equalities on plain columns (`{ owner:
 * user, done: false }`): for those, `shape` names the columns (the same SQL for any values, so
 * a table compiles it once and keeps it, see TableImpl.selectPage) and holds the values as
 * parameters in that order. Anything else (operators, null, `links` or media columns) has no
 * shape and goes through Kysely each time.
 */
export class SearchFilter {
  readonly #dialect: Dialect;
  readonly #table: FilterTable;
  readonly #filters: unknown;
  #condition: Condition | null | undefined;
  readonly shape: {
    readonly key: string;
    readonly names: string[];
    readonly params: unknown[];
  } | null;
  /**
   * Link columns the filters fix to one loaded row (`{ owner: user }`): every row found links
   * to that very row, so it is the link's value and no query has to fetch it again.
   */
  readonly linkRows: ReadonlyMap<string, RowImpl>;

  constructor(dialect: Dialect, table: FilterTable, filters: unknown) {
    this.#dialect = dialect;
    this.#table = table;
    this.#filters = filters;
    const names = equalityColumns(table, filters);
    const linkRows = new Map<string, RowImpl>();
    if (names) {
      const values = filters as Record<string, unknown>;
      const params = names.map((name) => {
        const column = table.byName.get(name)!;
        const value = values[name];
        // A links column's shape is "contains this row": its parameter is the row's id.
        if (column.kind === "links")
          return (storedValue(table.name, column, [value]) as number[])[0];
        const param = dialect.toDb(column.kind, storedValue(table.name, column, value));
        if (column.kind === "link" && (value as RowImpl)[VALUES]) {
          linkRows.set(name, value as RowImpl);
        }
        return param;
      });
      this.shape = { key: names.join(","), names, params };
      this.#condition = undefined;
    } else {
      this.shape = null;
      this.#condition = compileFilters(dialect, table, filters);
    }
    this.linkRows = linkRows;
  }

  /** The WHERE condition with the values in it, or null for "every row". */
  get condition(): Condition | null {
    if (this.#condition === undefined) {
      const names = this.shape!.names;
      this.#condition = names.length
        ? new FilterCompiler(this.#dialect, this.#table).top(this.#filters)
        : null;
    }
    return this.#condition;
  }
}

/**
 * `a = ? and b = ?` for the shape's columns (for a links column, "contains ?"), with the
 * parameters' positions as values: the condition compiled once per shape, whose parameters
 * are replaced on each run.
 */
export function shapeCondition(table: FilterTable, names: readonly string[]): Condition | null {
  if (!names.length) return null;
  return and(
    names.map((name, i) =>
      table.byName.get(name)?.kind === "links"
        ? containsRow(table, name, i)
        : sql<SqlBool>`${sql.ref(name)} = ${i}`,
    ),
  );
}

/** The row links to the row of this id: through the join table's (target_id, row_id) index. */
function containsRow(table: FilterTable, column: string, rowId: number): Condition {
  const links = sql.table(linksTable(table.tableId, column));
  return sql<SqlBool>`${rowIdRef(table)} in (select row_id from ${links} where target_id = ${rowId})`;
}

/** The searched row's id, named with its table: the join table's columns are in scope too. */
function rowIdRef(table: FilterTable) {
  return sql.ref(`${physicalTable(table.name)}.id`);
}

/** The column names of filters that are all equalities on plain columns, else null. */
function equalityColumns(table: FilterTable, filters: unknown): string[] | null {
  if (filters === undefined || filters === null) return [];
  if (typeof filters !== "object" || isQuery(filters) || rowRef(filters)) return null;
  const proto = Object.getPrototypeOf(filters);
  if (proto !== Object.prototype && proto !== null) return null;
  const names = Object.keys(filters);
  for (const name of names) {
    const column = table.byName.get(name);
    const value = (filters as Record<string, unknown>)[name];
    if (!column || column.kind === "media") return null;
    if (value === undefined || value === null || isQuery(value)) return null;
    if (column.kind === "links" && !rowRef(value)) return null;
  }
  return names;
}

class FilterCompiler {
  constructor(
    readonly dialect: Dialect,
    readonly table: FilterTable,
  ) {}

  top(filters: unknown): Condition | null {
    if (isQuery(filters)) return this.topQuery(filters);
    if (
      typeof filters !== "object" ||
      filters === null ||
      Array.isArray(filters) ||
      rowRef(filters)
    ) {
      throw this.badQuery(`filters must be an object of column: value, got ${describe(filters)}`);
    }
    const conditions = Object.entries(filters).map(([name, value]) =>
      name === "id" ? this.id(value) : this.column(this.columnNamed(name), value),
    );
    return conditions.length ? and(conditions) : null;
  }

  /** `q.anyOf({ a: 1 }, { b: 2 })` and friends, combining whole filter objects. */
  topQuery(query: Query): Condition {
    const parts = query.args.map((arg) => this.top(arg) ?? TRUE);
    switch (query.operator) {
      case "anyOf":
        return or(parts);
      case "allOf":
        return and(parts);
      case "noneOf":
        return not(or(parts));
      case "not":
        return not(and(parts));
      default:
        throw this.badQuery(
          `q.${query.operator} applies to a column: write { column: q.${query.operator}(...) }`,
        );
    }
  }

  columnNamed(name: string): ColumnSchema {
    const column = this.table.byName.get(name);
    if (column) return column;
    const known = [...this.table.byName.keys()].join(", ");
    throw new TableError(
      "KILN_UNKNOWN_COLUMN",
      `Table ${this.table.name} has no column "${name}"; columns: id, ${known}`,
      { table: this.table.name, column: name },
    );
  }

  /**
   * A filter on the row id: a row of this table, or its id as text (`"[3,14]"`), or
   * `q.anyOf/noneOf/not/allOf` of those. An id that is malformed or of another table matches
   * no row, as getById finds none: ids usually come from clients.
   */
  id(value: unknown): Condition {
    if (isQuery(value)) {
      const args = value.args;
      switch (value.operator) {
        case "anyOf":
          return this.idIn(args);
        case "noneOf":
          return not(this.idIn(args));
        case "allOf":
          return and(args.map((arg) => this.id(arg)));
        case "not":
          return not(this.id(args[0]));
        default:
          throw this.badQuery(
            `q.${value.operator} does not apply to ${this.table.name}.id (use a row, its id, or q.anyOf/noneOf/not of them)`,
          );
      }
    }
    const rowId = this.rowId(value);
    return rowId === null ? FALSE : sql<SqlBool>`${sql.ref("id")} = ${rowId}`;
  }

  /** The row id of a row or id text, null when it cannot be a row of this table. */
  rowId(value: unknown): number | null {
    const ref = rowRef(value);
    if (ref) {
      if (ref.tableId === this.table.tableId) return ref.rowId;
      throw new TableError(
        "KILN_BAD_VALUE",
        `${this.table.name}.id: got a row of table "${ref.table}"`,
        { table: this.table.name, column: "id" },
      );
    }
    if (typeof value === "string") {
      const parsed = parseRowId(value);
      return parsed && parsed.tableId === this.table.tableId ? parsed.rowId : null;
    }
    if (value === null) return null;
    throw new TableError(
      "KILN_BAD_VALUE",
      `${this.table.name}.id is a row id (a row of ${this.table.name}, or its id such as "[${this.table.tableId},1]"): got ${describe(value)}`,
      { table: this.table.name, column: "id" },
    );
  }

  idIn(args: readonly unknown[]): Condition {
    const conditions = args.filter((arg) => isQuery(arg)).map((arg) => this.id(arg));
    const ids: number[] = [];
    for (const arg of args) {
      if (isQuery(arg)) continue;
      const rowId = this.rowId(arg);
      if (rowId !== null) ids.push(rowId);
    }
    if (ids.length) conditions.push(this.dialect.inList(sql.ref("id"), "id", ids));
    return or(conditions);
  }

  column(column: ColumnSchema, value: unknown): Condition {
    if (isQuery(value)) return this.operator(column, value);
    return this.equals(column, value);
  }

  equals(column: ColumnSchema, value: unknown): Condition {
    const ref = sql.ref(column.name);
    if (value === undefined) {
      throw new TableError(
        "KILN_BAD_VALUE",
        `${this.table.name}.${column.name}: filter value is undefined (leave the column out to match any value)`,
        details(this.table.name, column),
      );
    }
    if (column.kind === "links") {
      if (value === null) {
        const links = sql.table(linksTable(this.table.tableId, column.name));
        return sql<SqlBool>`not exists (select 1 from ${links} as l where l.row_id = ${rowIdRef(this.table)})`;
      }
      const rows = Array.isArray(value) ? value : [value];
      return and(rows.map((row) => this.contains(column, row)));
    }
    if (value === null) return sql<SqlBool>`${ref} is null`;
    if (column.kind === "media") {
      throw this.badQuery(
        `${this.table.name}.${column.name} is media: it can only be compared with null`,
        column,
      );
    }
    return sql<SqlBool>`${ref} = ${this.param(column, value)}`;
  }

  contains(column: ColumnSchema, row: unknown): Condition {
    const [id] = storedValue(this.table.name, column, [row]) as number[];
    return containsRow(this.table, column.name, id!);
  }

  operator(column: ColumnSchema, query: Query): Condition {
    const ref = sql.ref(column.name);
    const [a, b, c, d] = query.args;
    switch (query.operator) {
      case "like":
      case "ilike":
        this.expect(column, query, ["text"]);
        return this.dialect.like(ref, this.pattern(column, a), query.operator === "like");
      case "fullTextMatch": {
        this.expect(column, query, ["text"]);
        if (typeof a !== "string") throw badValue(this.table.name, column, a);
        const words = a.match(/[\p{L}\p{N}]+/gu) ?? [];
        if (words.length > MAX_FULL_TEXT_WORDS) {
          throw new TableError(
            "KILN_QUERY_TOO_LARGE",
            `q.fullTextMatch on ${this.table.name}.${column.name} takes at most ${MAX_FULL_TEXT_WORDS} words (got ${words.length})`,
            details(this.table.name, column),
          );
        }
        return and(words.map((word) => this.dialect.like(ref, `%${word}%`, false)));
      }
      case "greaterThan":
        return sql<SqlBool>`${ref} > ${this.bound(column, query, a)}`;
      case "lessThan":
        return sql<SqlBool>`${ref} < ${this.bound(column, query, a)}`;
      case "greaterThanOrEqualTo":
        return sql<SqlBool>`${ref} >= ${this.bound(column, query, a)}`;
      case "lessThanOrEqualTo":
        return sql<SqlBool>`${ref} <= ${this.bound(column, query, a)}`;
      case "between": {
        const min = this.bound(column, query, a);
        const max = this.bound(column, query, b);
        if (typeof (c ?? true) !== "boolean" || typeof (d ?? false) !== "boolean") {
          throw this.badQuery(
            "q.between(min, max, minInclusive, maxInclusive): the flags are booleans",
            column,
          );
        }
        const low = (c ?? true) ? sql<SqlBool>`${ref} >= ${min}` : sql<SqlBool>`${ref} > ${min}`;
        const high = (d ?? false) ? sql<SqlBool>`${ref} <= ${max}` : sql<SqlBool>`${ref} < ${max}`;
        return and([low, high]);
      }
      case "anyOf":
        return this.anyOf(column, query.args);
      case "allOf":
        return and(query.args.map((arg) => this.column(column, arg)));
      case "noneOf":
        return not(this.anyOf(column, query.args));
      case "not":
        return not(this.column(column, a));
    }
  }

  /**
   * OR of the arguments; plain values of a simple column become one list parameter (see
   * Dialect.inList), so that any number of them works.
   */
  anyOf(column: ColumnSchema, args: readonly unknown[]): Condition {
    if (column.kind === "links") return this.linksAnyOf(column, args);
    const values = args.filter((arg) => !isQuery(arg) && arg !== null);
    if (values.length < 2 || column.kind === "media") {
      return or(args.map((arg) => this.column(column, arg)));
    }
    const conditions = args
      .filter((arg) => isQuery(arg) || arg === null)
      .map((arg) => this.column(column, arg));
    const list = values.map((value) => this.param(column, value));
    conditions.push(this.dialect.inList(sql.ref(column.name), column.kind, list));
    return or(conditions);
  }

  /**
   * "Contains any of these rows": one lookup of the join table for the rows given one by one
   * (one list parameter, whatever their number); lists, queries and null are ORed beside it.
   */
  linksAnyOf(column: ColumnSchema, args: readonly unknown[]): Condition {
    const rows = args.filter((arg) => rowRef(arg) !== null);
    if (rows.length < 2) return or(args.map((arg) => this.column(column, arg)));
    const conditions = args
      .filter((arg) => rowRef(arg) === null)
      .map((arg) => this.column(column, arg));
    const ids = storedValue(this.table.name, column, rows) as number[];
    const links = sql.table(linksTable(this.table.tableId, column.name));
    const targets = this.dialect.inList(sql.ref("target_id"), "id", ids);
    conditions.push(
      sql<SqlBool>`${rowIdRef(this.table)} in (select row_id from ${links} where ${targets})`,
    );
    return or(conditions);
  }

  /** A comparison bound: a non-null value of a column type that has an order. */
  bound(column: ColumnSchema, query: Query, value: unknown): unknown {
    this.expect(column, query, [...ORDERED]);
    if (value === null || value === undefined) throw badValue(this.table.name, column, value);
    return this.param(column, value);
  }

  param(column: ColumnSchema, value: unknown): unknown {
    return this.dialect.toDb(column.kind, storedValue(this.table.name, column, value));
  }

  pattern(column: ColumnSchema, value: unknown): string {
    if (typeof value !== "string") throw badValue(this.table.name, column, value);
    // A pattern ending in an unpaired escape is an error on PostgreSQL and matches nothing
    // on SQLite: refuse it on both.
    if (/(^|[^\\])(\\\\)*\\$/.test(value)) {
      // Patterns are usually made of what a client typed: the client's to fix (400).
      throw new TableError(
        "KILN_BAD_QUERY",
        `LIKE pattern ${JSON.stringify(value)} ends with an unpaired \\`,
        details(this.table.name, column),
        { status: 400 },
      );
    }
    return value;
  }

  expect(column: ColumnSchema, query: Query, kinds: readonly string[]): void {
    if (kinds.includes(column.kind)) return;
    throw this.badQuery(
      `q.${query.operator} does not apply to ${this.table.name}.${column.name}, a ${column.type} column (it applies to ${kinds.join(", ")})`,
      column,
    );
  }

  badQuery(message: string, column?: ColumnSchema): TableError {
    return new TableError(
      "KILN_BAD_QUERY",
      message,
      column ? details(this.table.name, column) : { table: this.table.name },
    );
  }
}

function and(conditions: Condition[]): Condition {
  if (conditions.length === 0) return TRUE;
  if (conditions.length === 1) return conditions[0]!;
  return sql<SqlBool>`(${sql.join(conditions, sql` and `)})`;
}

function or(conditions: Condition[]): Condition {
  if (conditions.length === 0) return FALSE;
  if (conditions.length === 1) return conditions[0]!;
  return sql<SqlBool>`(${sql.join(conditions, sql` or `)})`;
}

/** True when the condition is false or null: `q.not(x)` matches rows whose column is null. */
function not(condition: Condition): Condition {
  return sql<SqlBool>`(${condition}) is not true`;
}
