import type { Kysely } from "kysely";
import { COOKIE_STATE, requestState } from "../cookies/request-state.ts";
import { KyselySessionStore } from "../cookies/session-store.ts";
import type { RequestContext } from "../http/context.ts";

/**
 * Where the logged-in user of a browser session is kept: the session (cookies/session.ts),
 * under the key "_kiln_user", holding the user row's id. This file is the only one in users/
 * that touches the session, so the contract lives in one place. Each function is given its
 * request rather than looking it up (AsyncLocalStorage): a handler's `ctx.users` works on its
 * own request wherever its code runs. Outside a request there is no session: the callers do
 * nothing with it (a script's loginWithEmail only checks the password).
 */
export const SESSION_USER_KEY = "_kiln_user";

/**
 * The user id in the session the "cookies.session" stage loaded for this request, or null
 * (no session cookie came, or the request is cross-site: its session is empty).
 */
export function loadedSessionUserId(ctx: RequestContext): string | null {
  const id = ctx.get(COOKIE_STATE)?.session.get(SESSION_USER_KEY);
  return typeof id === "string" ? id : null;
}

/** Logs `id` in to the request's session, under a fresh session id (against fixation). */
export function rememberLogin(ctx: RequestContext, id: string): void {
  const session = requestState(ctx).session;
  session.regenerate();
  session.set(SESSION_USER_KEY, id);
}

/**
 * Logs the request's session out, and moves what else it holds to a fresh session id: the old
 * cookie (seen, stolen or still held by a request in flight) is worthless afterwards.
 */
export function forgetLogin(ctx: RequestContext): void {
  const session = requestState(ctx).session;
  session.delete(SESSION_USER_KEY);
  session.regenerate();
}

/**
 * Ends every stored session logged in as `id`, in any browser (a removed user's): the rest of
 * such a session (a cart, preferences) goes too, and nothing of the user stays at rest.
 * Returns how many sessions ended.
 */
export function endSessionsOf(db: Kysely<unknown>, id: string): Promise<number> {
  return new KyselySessionStore(db).deleteWithData(SESSION_USER_KEY, id);
}
