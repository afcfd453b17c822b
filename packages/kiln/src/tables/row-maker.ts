import type { Dialect } from "./dialect.ts";
import { decodeMedia } from "./media-codec.ts";
import { type RowImpl, type RowOwner, rowClass, VALUES } from "./row.ts";
import { rowRef } from "./row-ref.ts";
import type { ColumnSchema } from "./schema.ts";

/** A table as far as making its rows goes. */
export interface RowMakerTable extends RowOwner {
  readonly tableId: number;
  readonly linkColumns: readonly ColumnSchema[];
  stub(rowId: number): RowImpl;
}

/**
 * Makes the Rows of one table: from database values, from values just written, or as stubs
 * (known by id only). Links are left as row ids here; links.ts replaces them with rows.
 */
export class RowMaker {
  readonly #table: RowMakerTable;
  readonly #dialect: Dialect;
  readonly #tableNamed: (name: string) => RowMakerTable;
  readonly #Row: typeof RowImpl;
  /** The columns in the table's row, in the order selected (`links` are join tables). */
  readonly #inRow: readonly ColumnSchema[];
  readonly #lists: readonly ColumnSchema[];

  constructor(table: RowMakerTable, dialect: Dialect, tableNamed: (name: string) => RowMakerTable) {
    this.#table = table;
    this.#dialect = dialect;
    this.#tableNamed = tableNamed;
    this.#Row = rowClass(table.name, table.columns);
    this.#inRow = table.columns.filter((c) => c.kind !== "links");
    this.#lists = table.columns.filter((c) => c.kind === "links");
    this.#fromDb = this.#inRow.map((column) => (raw: unknown) => this.#value(column, raw));
    this.#valuesOf = valuesFactory(this.#inRow, this.#lists);
  }

  readonly #fromDb: readonly ((raw: unknown) => unknown)[];
  readonly #valuesOf: ValuesFactory;

  #make(rowId: number, values: Record<string, unknown> | null): RowImpl {
    const table = this.#table;
    return new this.#Row(table, { table: table.name, tableId: table.tableId, rowId }, values);
  }

  /**
   * A row from the values the database returned. Its `links` lists start empty: the table
   * fills them from their join tables (row ids, then rows).
   */
  fromDb(raw: Record<string, unknown>): RowImpl {
    const values: Record<string, unknown> = {};
    for (const column of this.#inRow) values[column.name] = this.#value(column, raw[column.name]);
    for (const column of this.#lists) values[column.name] = [];
    return this.#make(Number(raw.id), values);
  }

  /** A row from the database's values as an array: the id, then the row's columns in order. */
  fromDbArray(raw: readonly unknown[]): RowImpl {
    return this.#make(Number(raw[0]), this.#valuesOf(raw, this.#fromDb));
  }

  #value(column: ColumnSchema, raw: unknown): unknown {
    const value = this.#dialect.fromDb(column.kind, raw);
    return column.kind === "media" && value !== null ? decodeMedia(value as Uint8Array) : value;
  }

  /** The row just added: the values as written (see shownValue), the others empty. */
  added(rowId: number, given: Record<string, unknown>): RowImpl {
    const values: Record<string, unknown> = {};
    for (const column of this.#table.columns) {
      const value = given[column.name];
      values[column.name] = value === undefined ? emptyValue(column) : value;
    }
    return this.#make(rowId, values);
  }

  /** A row known only by its id (reached through two links): reading a column throws. */
  stub(rowId: number): RowImpl {
    return this.#make(rowId, null);
  }

  /** Replaces the link ids of a row with stubs (for rows that are themselves linked rows). */
  stubLinks(row: RowImpl): void {
    const values = row[VALUES]!;
    for (const column of this.#table.linkColumns) {
      const target = this.#tableNamed(column.target!);
      const value = values[column.name];
      values[column.name] =
        column.kind === "link"
          ? value === null
            ? null
            : target.stub(value as number)
          : ((value ?? []) as number[]).map((id) => target.stub(id));
    }
  }
}

type ValuesFactory = (
  raw: readonly unknown[],
  fromDb: readonly ((raw: unknown) => unknown)[],
) => Record<string, unknown>;

/**
 * Makes a row's values from its array of database values (the id first) in one object
 * literal, its names written into the code: every row of a table then has one shape, built
 * without a property store by a name held in a variable (which V8 makes megamorphic once
 * several tables go through it). Names are JSON string literals, so no column name can change
 * the code (and none is `__proto__`: names start with a letter, Kiln's own with one underscore).
 */
function valuesFactory(
  inRow: readonly ColumnSchema[],
  lists: readonly ColumnSchema[],
): ValuesFactory {
  const fields = [
    ...inRow.map((column, i) => `${JSON.stringify(column.name)}: fromDb[${i}](raw[${i + 1}])`),
    ...lists.map((column) => `${JSON.stringify(column.name)}: []`),
  ];
  return new Function("raw", "fromDb", `return { ${fields.join(", ")} };`) as ValuesFactory;
}

/** What an unset column reads as: null, or an empty list for `links`. */
export function emptyValue(column: ColumnSchema): unknown {
  return column.kind === "links" ? [] : null;
}

/** The value a row shows after a write: what reading it back would give. */
export function shownValue(column: ColumnSchema, stored: unknown, given: unknown): unknown {
  if (stored === null) return emptyValue(column);
  switch (column.kind) {
    case "datetime":
      return new Date((stored as Date).getTime());
    case "object":
      return JSON.parse(stored as string);
    case "media":
      return decodeMedia(stored as Buffer);
    case "links":
      return distinctRows(given as unknown[]);
    default:
      return column.kind === "link" ? given : stored;
  }
}

/** A list of rows with each row once, at its first place (a `links` list holds a row once). */
export function distinctRows(rows: readonly unknown[]): unknown[] {
  const seen = new Set<number>();
  return rows.filter((row) => {
    const rowId = rowRef(row)!.rowId;
    if (seen.has(rowId)) return false;
    seen.add(rowId);
    return true;
  });
}
