import { KilnError } from "../errors.ts";
import { globalState, type StartHook } from "../http/global-state.ts";
import { registrationTarget } from "./registration.ts";

/**
 * Runs `fn` each time the app starts: after its tables are migrated and its services started,
 * before it accepts a request. The place for seed data, warming a cache, or checking that
 * something the app needs is there; `tables` and `users` work inside it (they do not at the
 * top level of a server module, which is imported before the app's database is open). The
 * app waits for it; if it throws, the app does not start. It runs in every process that
 * serves the app (each `--workers` process, each `kiln dev` reload), so make it safe to
 * repeat. Called at the top level of a server module; `app.onStart(fn)` registers on one app
 * created with `createApp`.
 * @example
 * onStart(async () => {
 *   if ((await tables.tasks.search().count()) === 0) {
 *     await tables.tasks.addRow({ title: "Try Kiln", done: false });
 *   }
 * });
 */
export function onStart(fn: () => unknown): void {
  const hook = checkedHook(fn);
  registrationTarget("onStart", hook.name ? hook.name : "...").startHooks.push(hook);
}

/** `fn`, once it is known to be a function (a typo would otherwise fail only at start). */
export function checkedHook(fn: unknown): StartHook {
  if (typeof fn !== "function") {
    throw new KilnError("KILN_START_FAILED", `onStart takes a function, got ${typeof fn}`);
  }
  return fn as StartHook;
}

/**
 * Runs an app's start hooks in order, with `app` as the current app (for the importable
 * `tables` and `users`, when the app may use them: see AppConfig.requestViews); names a
 * failing one.
 */
export async function runStartHooks(
  app: unknown,
  hooks: readonly StartHook[],
  requestViews = true,
): Promise<void> {
  for (const hook of hooks) {
    try {
      await (requestViews ? globalState.starting.run(app, hook) : hook());
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // The first frame is the app's own line that threw: what the author needs to look at.
      const frame = (error as Error)?.stack?.split("\n").find((line) => /^\s+at /.test(line));
      const at = frame && /([^\s(]+:\d+:\d+)\)?$/.exec(frame)?.[1];
      throw new KilnError(
        "KILN_START_FAILED",
        `An onStart function failed: ${message}${at ? ` (at ${at})` : ""}`,
        { cause: error },
      );
    }
  }
}
