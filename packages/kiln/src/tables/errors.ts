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
  /** Every column of a composite unique constraint (KILN_DUPLICATE_VALUE); `column` names them too. */
  columns?: readonly string[];
}

/**
 * The HTTP answer of an error a client's value causes (a duplicate, a bad `limit`): thrown
 * inside an endpoint, it answers this status with the message, as Fastify's own client errors
 * do; errors without it are mistakes in the code, logged and answered 500.
 */
export type ClientStatus = 400 | 409;

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
  /** See ClientStatus: set only on errors that a client's value causes. */
  readonly statusCode?: ClientStatus;

  constructor(
    code: TableErrorCode,
    message: string,
    details: TableErrorDetails = {},
    options?: { cause?: unknown; statusCode?: ClientStatus },
  ) {
    super(code, message, options);
    this.name = "TableError";
    this.table = details.table;
    this.column = details.column;
    this.columnType = details.columnType;
    if (details.columns) this.columns = details.columns;
    if (options?.statusCode) this.statusCode = options.statusCode;
  }
}
