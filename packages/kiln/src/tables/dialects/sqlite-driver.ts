import type { Database, Statement } from "better-sqlite3";
import { CompiledQuery, type DatabaseConnection, type QueryResult } from "kysely";
import type { ImmediateDriver } from "../transaction-driver.ts";

/**
 * A Kysely driver for better-sqlite3 that differs from Kysely's own in two ways:
 * - prepared statements are cached by SQL text, so a query run again (getById, addRow, a
 *   page of a scan) skips SQLite's parser and planner;
 * - transactions start with `BEGIN IMMEDIATE`: the write lock is taken up front, so two
 *   processes never both read and then fail to upgrade to a write (which SQLite reports as
 *   SQLITE_BUSY at once, without waiting for busy_timeout).
 * SQLite has one connection per process here; a mutex hands it to one user at a time.
 */
export class SqliteDriver implements ImmediateDriver {
  readonly #connection: SqliteConnection;
  readonly #mutex = new Mutex();
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
    this.#connection = new SqliteConnection(db);
  }

  async init(): Promise<void> {}

  acquireConnection(): Promise<DatabaseConnection> {
    return this.#mutex.lock().then(() => this.#connection);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#db.inTransaction) await connection.executeQuery(CompiledQuery.raw("rollback"));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  /**
   * Runs the query at once, synchronously, when the connection is free or held by the
   * caller's own transaction; undefined when another flow holds it (then wait as usual).
   * better-sqlite3 is synchronous, so nothing can interleave with the query: this skips the
   * promise hops of acquiring and releasing the connection on the hot paths.
   */
  runNow(
    query: CompiledQuery,
    held: DatabaseConnection | undefined,
    rowsAsArrays = false,
  ): QueryResult<unknown> | undefined {
    if (held !== this.#connection && this.#mutex.locked) return undefined;
    return this.#connection.run(query, rowsAsArrays);
  }

  async destroy(): Promise<void> {
    this.#db.close();
  }
}

// Enough for every hot query of a few dozen tables; beyond, the cache starts over (simple,
// and a statement is only a few microseconds to prepare again).
const MAX_CACHED_STATEMENTS = 500;

class SqliteConnection implements DatabaseConnection {
  readonly #db: Database;
  readonly #statements = new Map<string, Statement>();

  constructor(db: Database) {
    this.#db = db;
  }

  #prepare(sql: string, rowsAsArrays: boolean): Statement {
    const key = rowsAsArrays ? `arrays:${sql}` : sql;
    let statement = this.#statements.get(key);
    if (!statement) {
      statement = this.#db.prepare(sql);
      if (rowsAsArrays && statement.reader) statement.raw(true);
      if (this.#statements.size >= MAX_CACHED_STATEMENTS) this.#statements.clear();
      this.#statements.set(key, statement);
    }
    return statement;
  }

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return Promise.resolve(this.run(query) as QueryResult<R>);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs a query. `rowsAsArrays`: each row is an array of its values in select order, which
   * better-sqlite3 makes markedly faster than an object (no column name per value and row).
   */
  run(query: CompiledQuery, rowsAsArrays = false): QueryResult<unknown> {
    const statement = this.#prepare(query.sql, rowsAsArrays);
    const parameters = query.parameters as unknown[];
    if (statement.reader) return { rows: statement.all(parameters) };
    const { changes, lastInsertRowid } = statement.run(parameters);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }

  // biome-ignore lint/correctness/useYield: streaming is not offered; Kiln pages instead
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("Kiln's SQLite driver does not stream; search() pages instead");
  }
}

/** A FIFO lock whose uncontended `lock()` costs one resolved promise. */
class Mutex {
  #locked = false;

  get locked(): boolean {
    return this.#locked;
  }

  readonly #waiters: (() => void)[] = [];

  lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#locked = false;
  }
}
