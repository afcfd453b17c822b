import { KilnError } from "../errors.ts";
import { globalState } from "../http/global-state.ts";
import type { KilnApp } from "./create-app.ts";

/**
 * The app that the importable `tables`, `users` and `inTransaction` act on: the one serving
 * the current request, else the one running its `onStart` functions. Anywhere else there is
 * no app to pick without guessing (two apps may run in one process): a clear error names the
 * bound form to use instead.
 */
export function currentApp(what: "tables" | "users" | "inTransaction"): KilnApp {
  // Typed loosely in http/ and runtime/ (they do not know apps); only apps are stored there.
  const app = (globalState.als.getStore()?.app ?? globalState.starting.getStore()) as
    | KilnApp
    | undefined;
  if (app) return app;
  if (globalState.loading) {
    // A server module's top level runs while its app folder loads, before any database opens.
    throw new KilnError(
      "KILN_NO_REQUEST",
      `\`${what}\` was used at the top level of a server module, which runs while the app loads, before its database is open: use it inside an endpoint, or at start-up inside onStart(async () => { ... })`,
    );
  }
  const bound = what === "inTransaction" ? "app.inTransaction(fn)" : `app.${what}`;
  throw new KilnError(
    "KILN_NO_REQUEST",
    `\`${what}\` works inside an endpoint handler or an onStart function (it acts on the app serving them), and neither is running here: in a script or a test, use ${bound} of the app you created (createApp or loadApp)`,
  );
}
