import { KilnError } from "../errors.ts";
import { globalState } from "../runtime/global-state.ts";
import type { KilnApp } from "./create-app.ts";

/**
 * The app that `tables`, `users` and friends act on: the one serving the current request,
 * else the most recently created app (a script or a test), else a clear error.
 */
export function currentApp(): KilnApp {
  const fromRequest = globalState.als.getStore()?.app as KilnApp | undefined;
  const app = fromRequest ?? (globalState.currentApp as KilnApp | undefined);
  if (!app) {
    throw new KilnError(
      "KILN_NO_APP",
      "No Kiln app is running: create one with createApp() or start it with `kiln start`",
    );
  }
  return app;
}
