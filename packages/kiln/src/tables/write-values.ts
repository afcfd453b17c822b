import { describe, details, storedValue } from "./column-values.ts";
import type { Dialect } from "./dialect.ts";
import { TableError, unknownColumn } from "./errors.ts";
import { shownValue } from "./row-maker.ts";
import { rowRef } from "./row-ref.ts";
import type { ColumnSchema, InternalColumn } from "./schema.ts";

/**
 * A checked write: the row's columns and their parameters, the values the row will show, and
 * the new lists of its `links` columns (target ids, each once; null clears).
 */
export interface Write {
  readonly names: string[];
  readonly params: unknown[];
  readonly values: Record<string, unknown>;
  readonly lists: [ColumnSchema, number[] | null][];
}

/** What a write is: a new row, a change of some columns, or `onUpdate: now` columns alone. */
export type WriteKind = "insert" | "update" | "touch";

/** A table as far as checking its writes goes. */
interface WrittenTable {
  readonly name: string;
  readonly columns: readonly ColumnSchema[];
  readonly byName: ReadonlyMap<string, ColumnSchema>;
}

/**
 * Turns the values given to addRow, update and the like into a Write, for one table: made
 * once per table, so the write hot paths only check values.
 */
export class WritePreparer {
  readonly #table: WrittenTable;
  readonly #dialect: Dialect;
  readonly #internals: readonly InternalColumn[];
  /** Columns with a `default` or `onUpdate: now`. */
  readonly #automatic: readonly ColumnSchema[];

  constructor(table: WrittenTable, dialect: Dialect, internals: readonly InternalColumn[]) {
    this.#table = table;
    this.#dialect = dialect;
    this.#internals = internals;
    this.#automatic = table.columns.filter((c) => c.default || c.onUpdateNow);
  }

  /**
   * Checks values for a write: database parameters, plus the values the row will show.
   * Columns left out get their `default` on insert, and `onUpdate: now` columns the time of
   * the write on update (when the update writes anything).
   */
  prepare(given: unknown, kind: WriteKind): Write {
    const table = this.#table;
    if (typeof given !== "object" || given === null || Array.isArray(given) || rowRef(given)) {
      throw new TableError(
        "KILN_BAD_VALUE",
        `${table.name}: row values must be an object of column: value, got ${describe(given)}`,
        { table: table.name },
      );
    }
    const values = this.#automatic.length ? this.#withAutomatic(given, kind) : given;
    const dialect = this.#dialect;
    const names: string[] = [];
    const params: unknown[] = [];
    const shown: Record<string, unknown> = {};
    const lists: Write["lists"] = [];
    for (const name of Object.keys(values)) {
      const value = (values as Record<string, unknown>)[name];
      if (value === undefined) continue;
      const column = table.byName.get(name);
      if (!column) throw unknownColumn(table, name);
      let stored = storedValue(table.name, column, value);
      if (column.normalise && typeof stored === "string") {
        const normalised = column.normalise(stored);
        if (normalised === null) {
          throw new TableError(
            "KILN_BAD_VALUE",
            `${table.name}.${name} is ${column.expected}: got ${describe(value)}`,
            details(table.name, column),
          );
        }
        stored = normalised;
      }
      shown[name] = shownValue(column, stored, value);
      if (column.kind === "links") {
        lists.push([column, stored === null ? null : [...new Set(stored as number[])]]);
        continue;
      }
      names.push(name);
      params.push(dialect.toDb(column.kind, stored));
    }
    for (const internal of this.#internals) {
      if (!(internal.from in shown)) continue;
      names.push(internal.name);
      params.push(internal.derive(shown[internal.from]));
    }
    return { names, params, values: shown, lists };
  }

  /** The values plus the columns that fill themselves (see prepare). */
  #withAutomatic(given: object, kind: WriteKind): Record<string, unknown> {
    const values: Record<string, unknown> = { ...given };
    if (kind === "update" && !Object.values(values).some((v) => v !== undefined)) return values;
    const now = new Date();
    for (const column of this.#automatic) {
      if (values[column.name] !== undefined) continue;
      const auto: ColumnSchema["default"] =
        kind === "insert" ? column.default : column.onUpdateNow ? { now: true } : undefined;
      if (!auto) continue;
      values[column.name] = !auto.now
        ? auto.value
        : column.kind === "date"
          ? now.toISOString().slice(0, 10)
          : now;
    }
    return values;
  }
}
