import { currentApp } from "../app/current-app.ts";
import { TableError } from "./errors.ts";
import { type TablesService, tablesProxy } from "./service.ts";
import type { TablesAccessor } from "./types.ts";

export type { CsvOptions } from "./csv.ts";

export { TableError } from "./errors.ts";
export { Query, type QueryOperator, q } from "./query.ts";
export { openTables, type TablesOptions, type TablesService, tablesService } from "./service.ts";
export type {
  ColumnInput,
  ColumnType,
  ColumnTypes,
  ColumnValue,
  Filters,
  JsonValue,
  KilnTables,
  OrderBy,
  Row,
  RowMethods,
  RowValues,
  SearchOptions,
  SearchResult,
  Table,
  TablesAccessor,
} from "./types.ts";

/** The current app's tables service (the app serving the request, else the latest created). */
function service(): TablesService {
  const app = currentApp();
  const found = app.service<TablesService>("tables");
  if (found) return found;
  throw new TableError(
    "KILN_NOT_READY",
    `The data tables of app "${app.name}" are not open yet: \`await app.ready()\` first (kiln start and app.inject do it for you)`,
  );
}

/**
 * The data tables of the current app, by name. Typed when `kiln types` has described them.
 * @example
 * const task = await tables.tasks.addRow({ title: "Buy milk", done: false });
 * const open = await tables.get("tasks").search({ done: false }).toArray();
 */
export const tables: TablesAccessor = tablesProxy((name) => service().table(name));

/**
 * Runs fn atomically: every table operation inside (and everything it awaits) commits together,
 * or none does if fn throws. Nested calls join the outer transaction. On a conflict with another
 * transaction (SQLITE_BUSY; PostgreSQL serialisation failure or deadlock), fn runs again, a
 * bounded number of times, so keep side effects other than the database out of it.
 * @example
 * await inTransaction(async () => {
 *   const from = await tables.accounts.getById(fromId);
 *   await from!.update({ balance: from!.balance! - 10 });
 *   await tables.transfers.addRow({ from, amount: 10 });
 * });
 */
export function inTransaction<T>(fn: () => Promise<T> | T): Promise<T> {
  return service().inTransaction(fn);
}
