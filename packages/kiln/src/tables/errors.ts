import { KilnError } from "../errors.ts";

/** The stable codes of data-table errors (each has a row in docs/errors.md). */
export type TableErrorCode =
  | "KILN_UNKNOWN_TABLE"
  | "KILN_UNKNOWN_COLUMN"
  | "KILN_BAD_VALUE"
  | "KILN_BAD_QUERY"
  | "KILN_QUERY_TOO_LARGE"
  | "KILN_MULTIPLE_ROWS"
  | "KILN_ROW_DELETED"
  | "KILN_ROW_NOT_LOADED"
  | "KILN_DUPLICATE_VALUE"
  | "KILN_DATABASE_BUSY"
  | "KILN_DATABASE_ERROR"
  | "KILN_DATABASE_UNAVAILABLE"
  | "KILN_NOT_READY"
  | "KILN_BAD_CSV";

/** What a table error is about, so callers can act on it without parsing the message. */
export interface TableErrorDetails {
  table?: string;
  column?: string;
  /** The column's declared type, e.g. `"number"` or `"link users"`. */
  columnType?: string;
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

  constructor(
    code: TableErrorCode,
    message: string,
    details: TableErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = "TableError";
    this.table = details.table;
    this.column = details.column;
    this.columnType = details.columnType;
  }
}
