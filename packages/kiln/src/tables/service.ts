import { join } from "node:path";
import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Logger } from "pino";
import { KilnError } from "../errors.ts";
import type { KilnService } from "../http/service.ts";
import { ensureDataDir, privateFile } from "../runtime/data-dir.ts";
import type { CsvOptions } from "./csv.ts";
import { exportCsv, importCsv } from "./csv-transfer.ts";
import type { AnyDB, Dialect } from "./dialect.ts";
import type { PostgresSettings, SqliteSettings } from "./dialects/settings.ts";
import { sqliteDialect } from "./dialects/sqlite.ts";
import { TableError } from "./errors.ts";
import { type MigrationResult, migrate, type PendingChange, type SchemaChange } from "./migrate.ts";
import { type BuiltInTable, parseSchema, type Schema } from "./schema.ts";
import { migrateSystemTables, type SystemMigration } from "./system-migrations.ts";
import { TableImpl, type TablesContext } from "./table.ts";
import { runInTransaction } from "./transaction.ts";
import type { TablesAccessor } from "./types.ts";

/** Where the tables live and what they are. */
export interface TablesOptions {
  /** The data folder; the SQLite file is `DATA/app.db`. null: an in-memory database. */
  dataDir: string | null;
  /** A `postgres://` URL selects PostgreSQL instead of SQLite. */
  databaseUrl?: string | null;
  /** `tables:` of kiln.yaml. */
  tables?: Record<string, unknown> | null;
  /**
   * The tables every app has, declared by the capabilities that keep data in them (the users
   * table of the Users service): see BuiltInTable. The app passes them (app/built-in-tables.ts).
   */
  builtIns: readonly BuiltInTable[];
  log?: Pick<Logger, "warn" | "info"> | null;
  /** Apply destructive schema changes too (`kiln tables migrate --apply`). */
  apply?: boolean;
  /** The deployment's SQLite and PostgreSQL settings (see app/resolve-config.ts); default Kiln's. */
  sqlite?: SqliteSettings;
  postgres?: PostgresSettings;
}

/**
 * The `tables` service: the app's database with its data tables. Other services reach it as
 * `app.services.tables` and use `db` (Kysely) for their own tables.
 */
export interface TablesService extends KilnService {
  readonly name: "tables";
  /**
   * Kysely over the app's database, for services' internal tables (made by `migrateSystem`).
   * Inside `inTransaction`, its queries join the transaction.
   */
  readonly db: Kysely<AnyDB>;
  /**
   * The same database for Kiln's own tables (sessions, login counters, tokens): they are not
   * data tables, so their queries are typed without the data tables' schema.
   */
  readonly systemDb: Kysely<unknown>;
  readonly dialect: Dialect;
  /**
   * Brings a service's own tables up to date: applies those of `migrations` not yet recorded
   * in `_kiln_migrations`, under the migration lock (see system-migrations.ts).
   */
  migrateSystem(migrations: readonly SystemMigration[]): Promise<string[]>;
  readonly dialectName: "sqlite" | "postgres";
  /** Every data table: `tables.tasks`, `tables.get("tasks")`. */
  readonly tables: TablesAccessor;
  /** The table by name (KILN_UNKNOWN_TABLE if none). */
  table(name: string): TableImpl;
  /** What a database error means for `table` (a duplicate value, a busy database...). */
  mapError(error: unknown, table: TableImpl): Error;
  /** See `inTransaction` in app/views.ts. */
  inTransaction<T>(fn: () => Promise<T> | T): Promise<T>;
  /** The table as CSV, a chunk (page of rows) at a time (`kiln tables export`). */
  exportCsv(name: string, options?: CsvOptions): AsyncGenerator<string>;
  /**
   * Adds the rows of CSV text to a table, all or nothing, in one transaction (no retry: the
   * input is read once). Returns the number of rows added (`kiln tables import`).
   */
  importCsv(
    name: string,
    chunks: AsyncIterable<string | Buffer>,
    onProgress?: (rows: number) => void,
    options?: CsvOptions,
  ): Promise<number>;
  /** What the migration on start did and left for `kiln tables migrate --apply`. */
  readonly migration: MigrationResult;
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** Opens the database of the options, brings it to the schema, and returns the service. */
export async function openTables(options: TablesOptions): Promise<TablesService> {
  const schema = parseSchema(options.tables ?? undefined, options.builtIns);
  const dialect = await openDialect(options);
  try {
    const migration = await migrate(dialect, schema, { apply: options.apply });
    for (const change of migration.changes) logChange(options.log, change);
    for (const change of migration.pending) warnPending(options.log, change);
    return new Tables(dialect, schema, migration);
  } catch (error) {
    await dialect.close().catch(() => undefined);
    // The migration is the first use of the database: a refused connection, a bad role or a
    // missing database shows here, and deserves one line saying what to fix.
    throw dialect.connectFailure?.(error) ?? error;
  }
}

/** What the tables service needs of its app (the app object is one). */
export interface TablesHost {
  readonly dataDir: string | null;
  readonly databaseUrl: string | null;
  readonly config: { readonly tables?: Record<string, unknown> | null };
  readonly log: Logger;
  /** The resolved settings of the database drivers (app/resolve-config.ts). */
  readonly settings: { readonly sqlite?: SqliteSettings; readonly postgres?: PostgresSettings };
}

/**
 * Starts an app's tables, the first of its services: SQLite at `DATA/app.db`, in memory when
 * the app has no data folder, PostgreSQL when `DATABASE_URL` is a `postgres://` URL. `builtIns`:
 * the tables the app's other services declare (see BuiltInTable).
 */
export const tablesService = (
  app: TablesHost,
  builtIns: readonly BuiltInTable[],
): Promise<TablesService> =>
  openTables({
    dataDir: app.dataDir,
    databaseUrl: app.databaseUrl,
    tables: app.config.tables,
    builtIns,
    log: app.log,
    sqlite: app.settings.sqlite,
    postgres: app.settings.postgres,
  });

async function openDialect(options: TablesOptions): Promise<Dialect> {
  const url = options.databaseUrl;
  if (url) {
    if (/^postgres(ql)?:\/\//.test(url)) {
      // Loaded only when used, so SQLite apps never load pg.
      const { postgresDialect } = await import("./dialects/postgres.ts");
      return postgresDialect(url, options.postgres);
    }
    throw new KilnError(
      "KILN_BAD_CONFIG",
      `DATABASE_URL must be a postgres:// URL (or unset for SQLite in the data folder), got "${url.split(":")[0]}:..."`,
    );
  }
  if (options.dataDir === null) return sqliteDialect(":memory:", options.sqlite);
  ensureDataDir(options.dataDir);
  const file = join(options.dataDir, "app.db");
  // 0600 before SQLite opens it, whatever the umask: SQLite creates its -wal and -shm files
  // with the database file's mode.
  privateFile(file, true);
  privateFile(`${file}-wal`, false);
  privateFile(`${file}-shm`, false);
  return sqliteDialect(file, options.sqlite);
}

function logChange(log: TablesOptions["log"], change: SchemaChange): void {
  log?.info(
    { table: change.table, column: change.column, change: change.kind },
    `table "${change.table}": ${change.description}`,
  );
}

function warnPending(log: TablesOptions["log"], change: PendingChange): void {
  log?.warn(
    { table: change.table, column: change.column, from: change.from, to: change.to },
    `kiln.yaml and the database differ: ${change.table}${change.column ? `.${change.column}` : ""} is left as it is until \`kiln tables migrate --apply\` is run, which would ${change.description}`,
  );
}

class Tables implements TablesService, TablesContext {
  readonly name = "tables";
  readonly dialect: Dialect;
  readonly migration: MigrationResult;
  readonly tables: TablesAccessor;
  readonly #tables = new Map<string, TableImpl>();

  constructor(dialect: Dialect, schema: Schema, migration: MigrationResult) {
    this.dialect = dialect;
    this.migration = migration;
    for (const table of schema.values()) {
      const kept = migration.keptTypes.get(table.name);
      const columns = table.columns.map((c) => kept?.get(c.name) ?? c);
      const id = migration.tableIds.get(table.name)!;
      this.#tables.set(
        table.name,
        new TableImpl(this, table.name, id, columns, table.internals, table.uniques),
      );
    }
    this.tables = tablesProxy((name) => this.table(name));
  }

  get db(): Kysely<AnyDB> {
    return this.dialect.db;
  }

  get systemDb(): Kysely<unknown> {
    // One database, two views of its types: Kysely's type parameter is invariant, and Kiln's
    // own tables are not in AnyDB's shape of data tables.
    return this.dialect.systemDb;
  }

  migrateSystem(migrations: readonly SystemMigration[]): Promise<string[]> {
    return migrateSystemTables(this.dialect, migrations);
  }

  get dialectName(): "sqlite" | "postgres" {
    return this.dialect.name;
  }

  table(name: string): TableImpl {
    const table = this.#tables.get(name);
    if (table) return table;
    throw new TableError(
      "KILN_UNKNOWN_TABLE",
      `No table "${name}": the app's tables are ${[...this.#tables.keys()].join(", ")} (declare tables in kiln.yaml)`,
      { table: name },
    );
  }

  inTransaction<T>(fn: () => Promise<T> | T): Promise<T> {
    return runInTransaction(this.dialect, fn);
  }

  exportCsv(name: string, options?: CsvOptions): AsyncGenerator<string> {
    return exportCsv(this.table(name), options);
  }

  importCsv(
    name: string,
    chunks: AsyncIterable<string | Buffer>,
    onProgress?: (rows: number) => void,
    options?: CsvOptions,
  ): Promise<number> {
    const table = this.table(name);
    const linked = (target: string) => this.table(target);
    return this.dialect.transaction(() => importCsv(table, linked, chunks, onProgress, options));
  }

  mapError(error: unknown, table: TableImpl): Error {
    if (error instanceof KilnError) return error;
    const message = (error as Error)?.message ?? String(error);
    const violation = this.dialect.uniqueViolation(error);
    if (violation) return duplicateValue(table, table.uniqueColumns(violation), error);
    if (this.dialect.isRefusedValue(error)) {
      return new TableError(
        "KILN_BAD_VALUE",
        `The database refused a value for table ${table.name}: ${message}`,
        { table: table.name },
        { cause: error },
      );
    }
    if (this.dialect.isUnavailable(error)) {
      return new TableError(
        "KILN_DATABASE_UNAVAILABLE",
        `The database could not be reached during an operation on ${table.name}: ${message}`,
        { table: table.name },
        { cause: error },
      );
    }
    if (this.dialect.isTooLarge(error)) {
      return new TableError(
        "KILN_QUERY_TOO_LARGE",
        `A query on ${table.name} is too large for the database: ${message}`,
        { table: table.name },
        { cause: error },
      );
    }
    if (this.dialect.isRetryable(error)) {
      return new TableError(
        "KILN_DATABASE_BUSY",
        `The database was busy (another process held it) during an operation on ${table.name}: ${message}`,
        { table: table.name },
        { cause: error },
      );
    }
    return new TableError(
      "KILN_DATABASE_ERROR",
      `Database error on table ${table.name}: ${message}`,
      { table: table.name },
      { cause: error },
    );
  }

  async healthy(): Promise<boolean> {
    try {
      await sql`select 1`.execute(this.dialect.db);
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.dialect.close();
  }
}

/**
 * KILN_DUPLICATE_VALUE, answered 409 inside an endpoint: the value usually came from the
 * client (a username taken), who can pick another. Names the columns, never the values.
 */
function duplicateValue(table: TableImpl, columns: readonly string[], cause: unknown): TableError {
  const column = columns.join(", ") || undefined;
  // Set when the index is an internal column's (the users' lower-cased email): it says why
  // two values that differ clashed.
  const note = columns.length === 1 ? table.duplicateNote(columns[0]!) : undefined;
  const message = !column
    ? `${table.name}: another row already has this value`
    : columns.length === 1
      ? `${table.name}.${column}: another row already has this value${note ? ` (${note})` : ""}`
      : `${table.name}: another row already has these values of ${column} together`;
  const columnType = columns.length === 1 ? table.byName.get(columns[0]!)?.type : undefined;
  return new TableError(
    "KILN_DUPLICATE_VALUE",
    message,
    { table: table.name, column, columnType, columns: columns.length > 1 ? columns : undefined },
    { cause },
  );
}

/** `tables.NAME` and `tables.get(NAME)` over a lookup. */
export function tablesProxy(lookup: (name: string) => TableImpl): TablesAccessor {
  const get = (name: string) => lookup(name);
  return new Proxy(Object.create(null) as TablesAccessor, {
    get(_, name) {
      if (typeof name !== "string" || name === "then") return undefined;
      if (name === "get") return get;
      return lookup(name);
    },
  });
}
