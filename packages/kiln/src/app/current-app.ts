import { KilnError } from "../errors.ts";
import { globalState } from "../runtime/global-state.ts";
import type { KilnApp } from "./create-app.ts";

/**
 * The app that `tables`, `users` and friends act on: the one serving the current request,
 * else the one running its `onStart` functions, else the most recently created app (a script
 * or a test), else a clear error.
 */
export function currentApp(): KilnApp {
  const fromRequest = globalState.als.getStore()?.app as KilnApp | undefined;
  const starting = globalState.starting.getStore() as KilnApp | undefined;
  const app = fromRequest ?? starting ?? (globalState.currentApp as KilnApp | undefined);
  if (!app) {
    throw new KilnError(
      "KILN_NO_APP",
      "No Kiln app is running: create one with createApp() or start it with `kiln start`. In a server module, use tables and users inside an endpoint, or at start-up inside onStart(async () => { ... })",
    );
  }
  return app;
}
