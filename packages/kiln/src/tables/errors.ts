import { KilnError, type KilnErrorCode, type KilnErrorOptions } from "../errors.ts";

/** What a table error is about, so callers can act on it without parsing the message. */
export interface TableErrorDetails {
  table?: string;
  column?: string;
  /** The column's declared type, e.g. `"number"` or `"link users"`. */
  columnType?: string;
  /** Every column of a composite unique constraint (KILN_DUPLICATE_VALUE); `column` names them too. */
  columns?: readonly string[];
}

/**
 * An error about a data table: unknown table or column, a value of the wrong type, a query
 * operator that does not fit a column. The message names table, column and type; so do the
 * fields.
 */
export class TableError extends KilnError {
  readonly table?: string;
  readonly column?: string;
  readonly columnType?: string;
  readonly columns?: readonly string[];

  constructor(
    code: KilnErrorCode,
    message: string,
    details: TableErrorDetails = {},
    options?: KilnErrorOptions,
  ) {
    super(code, message, options);
    this.name = "TableError";
    this.table = details.table;
    this.column = details.column;
    this.columnType = details.columnType;
    if (details.columns) this.columns = details.columns;
  }
}

/** KILN_UNKNOWN_COLUMN, listing the table's columns so the caller sees what it meant. */
export function unknownColumn(
  table: { readonly name: string; readonly byName: ReadonlyMap<string, unknown> },
  name: string,
): TableError {
  return new TableError(
    "KILN_UNKNOWN_COLUMN",
    `Table ${table.name} has no column "${name}"; columns: ${[...table.byName.keys()].join(", ")}`,
    { table: table.name, column: name },
  );
}

/** KILN_ROW_DELETED: a write to a row (`id`, as the app shows it) that is no longer there. */
export function rowDeleted(table: string, id: string): TableError {
  return new TableError("KILN_ROW_DELETED", `Row ${id} of ${table} has been deleted`, { table });
}
