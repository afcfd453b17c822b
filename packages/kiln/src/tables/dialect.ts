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
  /**
   * The same Kysely (same driver, same transactions) typed with no table: Kiln's own tables
   * are not in AnyDB's shape, and each service adds its own with `withTables`.
   */
  readonly systemDb: Kysely<unknown>;
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
  /** The one parameter of inList holding these values (to rerun its compiled SQL with others). */
  listParam(values: readonly unknown[]): unknown;
  /**
   * A LIMIT or OFFSET given as a parameter. On SQLite a bare `limit ?` makes the statement
   * re-plan each time it is run (the plan may depend on that value): about 4 µs on a 20-row
   * page, a third of the query.
   */
  rowCount(value: number): RawBuilder<number>;
  /**
   * Creates the join table of a `links` column (names.ts, linksTable): one row per link,
   * `(row_id, target_id, position)`, primary key (row_id, target_id), indexed on (target_id,
   * row_id) for "links contains X". Its rows go with the row that has the links and with the
   * row they point to, whoever deletes it (foreign keys ON DELETE CASCADE on PostgreSQL,
   * triggers on SQLite). `physical` and `target` are the data tables.
   */
  createLinksTable(links: string, physical: string, target: string): Promise<void>;
  /** Drops a join table and what keeps it (on SQLite also the triggers of 0.1's pairs table). */
  dropLinksTable(links: string): Promise<void>;
  /**
   * Copies a `links` column stored as 0.1 did (a JSON list of ids in the row) into its join
   * table: each id once, at its first place; ids of rows deleted since are left out.
   */
  copyJsonLinks(physical: string, column: string, links: string, target: string): Promise<void>;
  /**
   * Link rows `[row_id, target_id, position]` as a derived table with those columns, in one
   * parameter whatever their number (a list of 40,000 fans is one statement).
   */
  linkRows(rows: readonly (readonly [number, number, number])[]): RawBuilder<unknown>;
  /** Whether the table has the column (a 0.1 `links` column is still in its row). */
  hasColumn(table: string, column: string): Promise<boolean>;
  /** Drops a data table (on PostgreSQL with the foreign keys of join tables pointing to it). */
  dropTable(name: string): Promise<void>;
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
  /**
   * A foreign key refused the write: a row it points to is gone. Only a delete that commits
   * while the write waits for that row's lock gets this far (PostgreSQL's join tables, outside
   * a serializable transaction, which fails with a serialisation failure instead).
   */
  isMissingReference(error: unknown): boolean;
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
  /** Whether the index exists (in the app's schema, on PostgreSQL), so migration can log what it adds. */
  hasIndex(name: string): Promise<boolean>;
  /** Whether the table exists (in the app's schema, on PostgreSQL): system migrations adopt old ones. */
  hasTable(name: string): Promise<boolean>;
  /**
   * Renames a table, rows and all. PostgreSQL keeps a renamed table's constraints (and their
   * indexes) under the old name (`kiln_sessions_pkey`): they are renamed too, as a fresh
   * database names them, so an upgraded database and a new one look the same.
   */
  renameTable(oldName: string, newName: string): Promise<void>;
  /**
   * Gives up the existing index `oldName` so that `newName` can be made in its place:
   * PostgreSQL renames it; SQLite cannot rename an index, so drops it (it is made anew).
   */
  releaseIndex(oldName: string, newName: string): Promise<void>;
  close(): Promise<void>;
}
