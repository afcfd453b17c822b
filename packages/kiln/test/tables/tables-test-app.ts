import { afterEach } from "vitest";
import { createApp, type KilnApp } from "../../src/index.ts";
import type { TablesAccessor, TablesService } from "../../src/tables/index.ts";
import type { TestDatabase, TestDialect } from "../support/dialects.ts";

export interface TablesAppOptions {
  /** Reuse this database (a restart) instead of a fresh one. */
  database?: TestDatabase;
  /** Collects the app's log lines at `logLevel` (default warn) and above. */
  logs?: unknown[];
  logLevel?: "info" | "warn";
  /** Registers endpoints before the app starts. */
  setup?(app: KilnApp): void;
}

export interface TablesTestApp {
  readonly app: KilnApp;
  readonly service: TablesService;
  /** `app.tables`. */
  readonly tables: TablesAccessor;
  /** `app.inTransaction`. */
  inTransaction<T>(fn: () => Promise<T> | T): Promise<T>;
  readonly database: TestDatabase;
  /** Starts another app on the same database (a restart), with these tables. */
  reopen(tables: Record<string, unknown>): Promise<TablesTestApp>;
}

const open: { app: KilnApp; database?: TestDatabase }[] = [];

afterEach(async () => {
  for (const { app, database } of open.splice(0).reverse()) {
    await app.close();
    await database?.cleanup();
  }
});

/**
 * An app with these tables on a fresh database of the dialect, closed (and its database
 * removed) after the test.
 * @example const { service } = await tablesApp(dialect, { tasks: { title: "text" } });
 */
export async function tablesApp(
  dialect: TestDialect,
  tables: Record<string, unknown>,
  options: TablesAppOptions = {},
): Promise<TablesTestApp> {
  const { database, logs, logLevel = "warn" } = options;
  const db = database ?? (await dialect.freshDatabase());
  const app = createApp({
    name: "tables-test",
    tables,
    dataDir: db.dataDir,
    databaseUrl: db.databaseUrl,
    logger: logs
      ? { level: logLevel, destination: { write: (line: string) => logs.push(JSON.parse(line)) } }
      : false,
  });
  // The database is removed with the first app that opened it.
  open.push({ app, database: database ? undefined : db });
  options.setup?.(app);
  await app.ready();
  const service = app.services.tables!;
  return {
    app,
    service,
    tables: app.tables,
    inTransaction: (fn) => app.inTransaction(fn),
    database: db,
    reopen: async (next) => {
      await app.close();
      return tablesApp(dialect, next, { ...options, database: db });
    },
  };
}
