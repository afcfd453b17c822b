import { maybeContext } from "../http/context.ts";
import { tablesProxy } from "../tables/service.ts";
import type { TablesAccessor } from "../tables/types.ts";
import { makeUsers } from "../users/users.ts";
import { currentApp } from "./current-app.ts";

/**
 * The data tables of the app serving the current request (or running its `onStart`), by
 * name. Typed when `kiln types` has described them. Outside a request or start hook it throws
 * KILN_NO_REQUEST: a script or a test uses `app.tables`.
 * @example
 * const task = await tables.tasks.addRow({ title: "Buy milk", done: false });
 * const open = await tables.get("tasks").search({ done: false }).toArray();
 */
export const tables: TablesAccessor = tablesProxy((name) =>
  currentApp("tables").tablesService.table(name),
);

/**
 * Runs fn atomically: every table operation inside (and everything it awaits) commits together,
 * or none does if fn throws. Nested calls join the outer transaction. On a conflict with another
 * transaction (SQLITE_BUSY; PostgreSQL serialisation failure or deadlock), fn runs again, a
 * bounded number of times, so keep side effects other than the database out of it. Acts on
 * the app of the current request or start hook; `app.inTransaction(fn)` elsewhere.
 * @example
 * await inTransaction(async () => {
 *   const from = await tables.accounts.getById(fromId);
 *   await from!.update({ balance: from!.balance! - 10 });
 *   await tables.transfers.addRow({ from, amount: 10 });
 * });
 */
export function inTransaction<T>(fn: () => Promise<T> | T): Promise<T> {
  return currentApp("inTransaction").inTransaction(fn);
}

/**
 * The Users service of the app serving the current request (or running its `onStart`):
 * accounts with an email and a password, kept in the `users` data table. Inside a request,
 * logging in stores the user in the session (a browser stays logged in); `authenticateUsers:
 * true` endpoints accept that session, Basic credentials or an API token. A script or a test
 * uses `app.users`.
 */
export const users = makeUsers(() => currentApp("users").usersService(), maybeContext);
