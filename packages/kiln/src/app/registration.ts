import { KilnError } from "../errors.ts";
import { globalState, type Registrations } from "../http/global-state.ts";

/**
 * Where a top-level `httpEndpoint` or `onStart` registers: the app folder `loadApp` is
 * importing. Called at any other time (a script, a test, a handler, after start) there is no
 * app it could belong to: rather than wait for whichever app comes next, it says what to use.
 */
export function registrationTarget(what: "httpEndpoint" | "onStart", name: string): Registrations {
  const target = globalState.loading;
  if (target) return target;
  throw new KilnError(
    "KILN_NO_APP",
    `${what}(${name}) was called while no app folder is loading, so no app would ever serve it: call it at the top level of a module in the app's server/ folder (loadApp and kiln start import them), or register on an app object with app.${what}(...)`,
  );
}
