import type { CompiledQuery, Kysely, QueryResult, RawBuilder, SqlBool } from "kysely";
import type { KilnError } from "../errors.ts";
import type { ColumnKind } from "./schema.ts";

/** Kysely's view of Kiln's database: table and column names come from the validated schema. */
export type AnyDB = Record<string, Record<string, unknown>>;

/**
 * Everything that differs between the databases Kiln runs on, behind one small interface
 * (as Kysely does): the rest of the tables code never asks which database it is on. One
 * implementation per file under dialects/.
 */
export interface Dialect {
  readonly name: "sqlite" | "postgres";
  /** Kysely over this database. Inside `inTransaction`, its queries join the transaction. */
  readonly db: Kysely<AnyDB>;
  /** The SQL type of a column kind (`bool` → `integer` on SQLite, `boolean` on PostgreSQL). */
  columnType(kind: ColumnKind): RawBuilder<unknown>;
  /** The type of the `id` column: an auto-incrementing primary key whose values are never reused. */
  readonly idColumnType: RawBuilder<unknown>;
  /** A checked JavaScript value (see column-values.ts) → what the driver stores. */
  toDb(kind: ColumnKind, value: unknown): unknown;
  /** What the driver returns → the JavaScript value of the column. */
  fromDb(kind: ColumnKind, raw: unknown): unknown;
  /** `column LIKE pattern`, with `\` as the escape character, case-sensitive or not. */
  like(column: RawBuilder<unknown>, pattern: string, caseSensitive: boolean): RawBuilder<SqlBool>;
  /**
   * The column equals one of the values (already in the driver's form), whatever their number:
   * one parameter holding them all, so a list of 40,000 ids stays under SQLite's 32,766
   * variables and is one statement to plan.
   */
  inList(
    column: RawBuilder<unknown>,
    kind: ColumnKind | "id",
    values: unknown[],
  ): RawBuilder<SqlBool>;
  /**
   * A `links` column (a JSON list of row ids) of table `tableId` contains the row id, through
   * the column's index (see ensureLinksIndex).
   */
  linksContain(
    column: RawBuilder<unknown>,
    rowId: number,
    where: { tableId: number; column: string },
  ): RawBuilder<SqlBool>;
  /**
   * Makes "links contains X" indexed where the dialect's index cannot do it by itself: on
   * SQLite, a table of (row, linked row) pairs kept in step with the JSON list by triggers
   * (so every write path, Kiln's or another tool's, keeps it right), filled from the existing
   * rows when created. True when it was created now. No-op (false) on PostgreSQL (GIN).
   */
  ensureLinksIndex(physical: string, tableId: number, column: string): Promise<boolean>;
  /** Removes what ensureLinksIndex made, before the column is dropped or retyped. */
  dropLinksIndex(tableId: number, column: string): Promise<void>;
  /** The `links` value with the row id appended (one statement: never loses a concurrent write). */
  linksAppend(column: RawBuilder<unknown>, rowId: number): RawBuilder<unknown>;
  /** The `links` value without the row id (every occurrence). */
  linksWithout(column: RawBuilder<unknown>, rowId: number): RawBuilder<unknown>;
  /**
   * How many ids of the `links` value of the row whose id is `rowId` are rows of `target`
   * (deleted ones are not), as a scalar subquery.
   */
  linksCount(
    column: RawBuilder<unknown>,
    target: string,
    where: { tableId: number; column: string; rowId: RawBuilder<unknown> },
  ): RawBuilder<number>;
  /** A `links` column is null or an empty list. */
  linksEmpty(column: RawBuilder<unknown>): RawBuilder<SqlBool>;
  /** Worth retrying the transaction (SQLITE_BUSY, serialisation failure, deadlock). */
  isRetryable(error: unknown): boolean;
  /**
   * A unique index refused the write: the index's name or its columns, as far as the database
   * says (PostgreSQL names the index, SQLite the columns); null for any other error.
   */
  uniqueViolation(error: unknown): { index?: string; columns?: string[] } | null;
  /**
   * The database refused a value as such (out of its range, too big): the value is at fault,
   * so the error is the caller's (KILN_BAD_VALUE), not the database's.
   */
  isRefusedValue(error: unknown): boolean;
  /** Names of the indexes on a table (to drop unique indexes kiln.yaml no longer declares). */
  indexesOf(table: string): Promise<string[]>;
  /** The database could not be reached or refused the connection (a PostgreSQL outage). */
  isUnavailable(error: unknown): boolean;
  /**
   * The database refused the statement for its size: too many parameters, an expression
   * nested too deep, a pattern or value over its limit. Such queries come from request input
   * (a huge search), so they are the client's to fix: KILN_QUERY_TOO_LARGE, a 400.
   */
  isTooLarge(error: unknown): boolean;
  /** Most bound parameters one statement may carry (checked before the query is sent). */
  readonly maxParameters: number;
  /**
   * At start, the one-line KILN_DATABASE_CONNECT_FAILED for a database that cannot be used
   * (refused, bad role, missing database), or null for any other error.
   */
  connectFailure?(error: unknown): KilnError | null;
  /**
   * After a failed statement, the rest of the transaction fails too (PostgreSQL). Kiln then
   * wraps writes that can fail (unique columns) in a savepoint, so that catching the error
   * inside `inTransaction` leaves the transaction usable, as on SQLite.
   */
  readonly errorsAbortTransaction: boolean;
  /**
   * Runs a compiled query (in the current transaction, if any): the hot paths' way around
   * Kysely's executor, for queries compiled once and run many times.
   */
  execute(query: CompiledQuery): Promise<QueryResult<unknown>>;
  /**
   * The result at once, when the database can run the query synchronously now; else undefined.
   * `rowsAsArrays`: rows are arrays of values in select order instead of objects (cheaper).
   */
  executeNow(query: CompiledQuery, rowsAsArrays?: boolean): QueryResult<unknown> | undefined;
  /**
   * Runs fn in one real transaction (no retry); queries on `db` inside fn join it. The
   * migration asks for `read committed`: after waiting for the migration lock it must see
   * what the process before it committed (a serializable snapshot would predate that).
   */
  transaction<T>(fn: () => Promise<T>, settings?: { isolationLevel: "read committed" }): Promise<T>;
  /** True inside `transaction(fn)` (this database's). */
  inTransaction(): boolean;
  /**
   * Called first inside the migration's transaction: waits until no other process is
   * migrating the same database, and holds it off until this transaction ends.
   */
  lockForMigration(): Promise<void>;
  /** The index method for a `links` column (a JSON list), or null when it cannot be indexed. */
  readonly linksIndexMethod: string | null;
  /** Whether the index exists (in the app's schema, on PostgreSQL), so migration can log what it adds. */
  hasIndex(name: string): Promise<boolean>;
  /** Whether the table exists (in the app's schema, on PostgreSQL): system migrations adopt old ones. */
  hasTable(name: string): Promise<boolean>;
  close(): Promise<void>;
}
