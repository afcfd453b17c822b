import { inspect } from "node:util";
import { isMedia } from "../http/media.ts";
import { TableError } from "./errors.ts";
import { formatRowId, ROW_REF, type RowRef, rowRef } from "./row-ref.ts";
import type { ColumnSchema } from "./schema.ts";
import type { RowValues } from "./types.ts";

/** Registered, so that a row made by one copy of kiln reads in another (see global-state.ts). */
export const VALUES = Symbol.for("kiln.rowValues.v2");

/** What a row needs from its table to update and delete itself. */
export interface RowOwner {
  readonly name: string;
  readonly columns: readonly ColumnSchema[];
  updateRow(row: RowImpl, values: RowValues): Promise<void>;
  deleteRow(row: RowImpl): Promise<void>;
}

/**
 * A row of a data table. Column values are read-only properties (one accessor per column on
 * the table's row class, see rowClass); writing goes through `update`. A row reached through
 * two links (a linked row's own links) is not loaded: it has an id but reading a column
 * throws KILN_ROW_NOT_LOADED.
 */
export class RowImpl {
  /**
   * The columns, read-only: the accessors that rowClass defines on each table's subclass. With
   * it, a RowImpl is the public `Row` (types.ts) as declared, with no conversion.
   */
  readonly [column: string]: unknown;
  readonly [ROW_REF]: RowRef;
  /** Column name → JavaScript value; null for a row that is not loaded. */
  [VALUES]: Record<string, unknown> | null;
  readonly #owner: RowOwner;
  #id: string | undefined;

  constructor(owner: RowOwner, ref: RowRef, values: Record<string, unknown> | null) {
    this.#owner = owner;
    this[ROW_REF] = ref;
    this[VALUES] = values;
  }

  get id(): string {
    this.#id ??= formatRowId(this[ROW_REF].tableId, this[ROW_REF].rowId);
    return this.#id;
  }

  update(values: RowValues): Promise<void> {
    return this.#owner.updateRow(this, values);
  }

  delete(): Promise<void> {
    return this.#owner.deleteRow(this);
  }

  equals(other: unknown): boolean {
    const ref = rowRef(other);
    return (
      ref !== null && ref.tableId === this[ROW_REF].tableId && ref.rowId === this[ROW_REF].rowId
    );
  }

  /**
   * The columns plus `id`, JSON-ready: datetime → ISO string, link → the linked row's id,
   * links → their ids, media → `{ contentType, name, length }`. Secret columns (the users'
   * password hash) are left out, so returning a row from an endpoint never leaks them.
   */
  toJSON(): Record<string, unknown> {
    const values = loaded(this);
    const json: Record<string, unknown> = {};
    for (const column of this.#owner.columns) {
      if (!column.secret) json[column.name] = jsonValue(values[column.name]);
    }
    json.id = this.id;
    return json;
  }

  [inspect.custom](): unknown {
    const values = this[VALUES];
    if (!values) return `Row ${this.#owner.name} ${this.id} (not loaded)`;
    const shown: Record<string, unknown> = { id: this.id };
    for (const column of this.#owner.columns) {
      const value = values[column.name];
      shown[column.name] = column.secret && value !== null ? "[secret]" : jsonValue(value);
    }
    return shown;
  }
}

function jsonValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value) && value.every((v) => rowRef(v))) {
    return value.map((row: RowImpl) => row.id);
  }
  if (rowRef(value)) return (value as RowImpl).id;
  if (isMedia(value))
    return { contentType: value.contentType, name: value.name, length: value.length };
  return value;
}

function loaded(row: RowImpl): Record<string, unknown> {
  const values = row[VALUES];
  if (values) return values;
  throw new TableError(
    "KILN_ROW_NOT_LOADED",
    `Row ${row.id} of ${row[ROW_REF].table} was reached through a link of a linked row, so its columns are not loaded: fetch it with tables.${row[ROW_REF].table}.getById(row.id)`,
    { table: row[ROW_REF].table },
  );
}

/**
 * The row class of one table: RowImpl plus an accessor per column, defined once on the
 * prototype (so a row costs one small object, and reading a column is a property lookup).
 */
export function rowClass(table: string, columns: readonly ColumnSchema[]): typeof RowImpl {
  const RowOfTable = class extends RowImpl {};
  Object.defineProperty(RowOfTable, "name", { value: `Row<${table}>` });
  for (const column of columns) {
    const name = column.name;
    Object.defineProperty(RowOfTable.prototype, name, {
      enumerable: true,
      get: columnGetter(name),
      set() {
        throw new TableError(
          "KILN_BAD_VALUE",
          `${table}.${name} is read-only on a row: save a change with await row.update({ ${name}: value })`,
          { table, column: name, columnType: column.type },
        );
      },
    });
  }
  return RowOfTable;
}

/**
 * The getter of one column: a function of its own, reading the value by a name written into
 * its code. One closure shared by every column (`loaded(this)[name]`) would see every table's
 * values under every name, and V8 would fall back to its slowest (megamorphic) property reads
 * on each row of every search. The name is a JSON string literal, which is a valid JavaScript
 * one, so no column name can change the code.
 */
function columnGetter(name: string): (this: RowImpl) => unknown {
  return new Function(
    "loaded",
    `return function () { return loaded(this)[${JSON.stringify(name)}]; };`,
  )(loaded) as (this: RowImpl) => unknown;
}
