import { AsyncLocalStorage } from "node:async_hooks";
import type {
  CompiledQuery,
  DatabaseConnection,
  Driver,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from "kysely";
import { processWide } from "../runtime/process-wide.ts";

/** A driver that can sometimes run a query synchronously (SQLite): see SqliteDriver.runNow. */
export interface ImmediateDriver extends Driver {
  runNow(
    query: CompiledQuery,
    held: DatabaseConnection | undefined,
    rowsAsArrays?: boolean,
  ): QueryResult<unknown> | undefined;
}

/**
 * A transaction of the current async flow. It begins at its first query, not when
 * `transaction(fn)` is called: what fn does before touching the database (hashing a password,
 * calling another service) then holds no connection, and on SQLite not the write lock that
 * every other write of the process waits for.
 */
interface HeldConnection {
  /** The transaction's connection once it has begun, else null. */
  connection: DatabaseConnection | null;
  /** Begins the transaction (once, whoever asks first) and gives its connection. */
  begin(): Promise<DatabaseConnection>;
  active: boolean;
}

/** Which connection each database's transaction holds, in the current async flow. */
type Held = ReadonlyMap<TransactionDriver, HeldConnection>;

// One store for every database: a Map, so a transaction on one app's database inside a
// transaction on another's keeps both.
const held = processWide("kiln.tables.transactions.v1", () => new AsyncLocalStorage<Held>());

/**
 * Transactions running now, in every copy of kiln (they share `held`). When the last one ends,
 * `held` is disabled: on Node.js 20 and 22 an AsyncLocalStorage that has run once keeps async
 * hooks on for the rest of the process, and every promise and socket write then pays for them
 * (about a tenth of a small request), although a transaction (the start-up migrations, an
 * occasional `inTransaction`) ended long ago. The next transaction enables it again. A stray
 * callback of a finished transaction reads no store, or one whose `active` is false: either
 * way it is outside any transaction, as it should be.
 */
const running = processWide("kiln.tables.transactions.running.v1", () => ({ running: 0 }));

/**
 * Wraps a Kysely driver so that, inside `transaction(fn)`, every query made through Kysely in
 * fn's async flow runs on the transaction's connection. That is how `tables.x.addRow()` inside
 * `inTransaction` joins it without passing a transaction object around, and how other services
 * using `db` inside it neither escape the transaction nor wait for the connection it holds (on
 * SQLite, the only one: waiting would deadlock).
 */
export class TransactionDriver implements Driver {
  readonly #inner: Driver;
  readonly #settings: TransactionSettings;
  #initialised: Promise<void> | null = null;

  constructor(inner: Driver, settings: TransactionSettings = {}) {
    this.#inner = inner;
    this.#settings = settings;
  }

  /** The connection of the current transaction, if fn's flow is inside one. */
  #held(): HeldConnection | undefined {
    const h = held.getStore()?.get(this);
    return h?.active ? h : undefined;
  }

  inTransaction(): boolean {
    return this.#held() !== undefined;
  }

  /**
   * Runs fn in a transaction; Kysely queries inside fn use it. Commits, or rolls back on error.
   * Inside another transaction of this database, fn simply joins it.
   */
  async transaction<T>(fn: () => Promise<T>, settings?: TransactionSettings): Promise<T> {
    if (this.#held()) return fn(); // already in one: join it
    await this.init();
    let beginning: Promise<DatabaseConnection> | null = null;
    let acquired: DatabaseConnection | null = null;
    const state: HeldConnection = {
      connection: null,
      active: true,
      begin: () => {
        beginning ??= (async () => {
          const connection = await this.#inner.acquireConnection();
          acquired = connection;
          await this.#inner.beginTransaction(connection, settings ?? this.#settings);
          state.connection = connection;
          return connection;
        })();
        return beginning;
      },
    };
    const store = new Map(held.getStore() ?? []);
    store.set(this, state);
    // Settles the beginning (if any) and gives the connection it took, begun or not.
    const taken = async () => {
      if (beginning) await beginning.catch(() => undefined);
      return acquired as DatabaseConnection | null;
    };
    running.running++;
    try {
      let result: T;
      try {
        result = await held.run(store, fn);
      } catch (error) {
        state.active = false;
        const connection = await taken();
        if (connection) await this.#inner.rollbackTransaction(connection).catch(() => undefined);
        throw error;
      }
      state.active = false;
      if (beginning) {
        const connection = await beginning;
        await this.#inner.commitTransaction(connection).catch(async (error: unknown) => {
          await this.#inner.rollbackTransaction(connection).catch(() => undefined);
          throw error;
        });
      }
      return result;
    } finally {
      state.active = false;
      if (--running.running === 0) held.disable();
      const connection = await taken();
      if (connection) await this.#inner.releaseConnection(connection);
    }
  }

  /** Runs a compiled query through the driver, in the current transaction if there is one. */
  async execute(query: CompiledQuery): Promise<QueryResult<unknown>> {
    const h = this.#held();
    if (h) return (h.connection ?? (await h.begin())).executeQuery(query);
    await this.init();
    const connection = await this.#inner.acquireConnection();
    try {
      return await connection.executeQuery(query);
    } finally {
      await this.#inner.releaseConnection(connection);
    }
  }

  /** The query's result at once when the driver can run it synchronously now, else undefined. */
  executeNow(query: CompiledQuery, rowsAsArrays = false): QueryResult<unknown> | undefined {
    const runNow = (this.#inner as Partial<ImmediateDriver>).runNow;
    const h = this.#held();
    // A transaction not begun yet begins with the usual, asynchronous path.
    if (h && !h.connection) return undefined;
    return runNow?.call(this.#inner, query, h?.connection ?? undefined, rowsAsArrays);
  }

  /** Initialises the inner driver once, whoever asks first (Kysely, or Kiln's own paths). */
  init(): Promise<void> {
    this.#initialised ??= this.#inner.init();
    return this.#initialised;
  }

  acquireConnection(): Promise<DatabaseConnection> {
    const h = this.#held();
    if (!h) return this.#inner.acquireConnection();
    return h.connection ? Promise.resolve(h.connection) : h.begin();
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    if (this.#held()?.connection === connection) return Promise.resolve();
    return this.#inner.releaseConnection(connection);
  }

  // Kysely's own `db.transaction()` inside `inTransaction` joins it too: beginning, committing
  // or rolling back the connection the transaction holds is left to the transaction (an inner
  // COMMIT would otherwise end the outer transaction early on PostgreSQL).
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (this.#held()?.connection === connection) return Promise.resolve();
    return this.#inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#held()?.connection === connection) return Promise.resolve();
    return this.#inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#held()?.connection === connection) return Promise.resolve();
    return this.#inner.rollbackTransaction(connection);
  }

  savepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler["compileQuery"],
  ): Promise<void> {
    return this.#inner.savepoint?.(connection, name, compile) ?? Promise.resolve();
  }

  rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler["compileQuery"],
  ): Promise<void> {
    return this.#inner.rollbackToSavepoint?.(connection, name, compile) ?? Promise.resolve();
  }

  releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler["compileQuery"],
  ): Promise<void> {
    return this.#inner.releaseSavepoint?.(connection, name, compile) ?? Promise.resolve();
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}
