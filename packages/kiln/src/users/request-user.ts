import { type RequestContext, slot } from "../http/context.ts";
import type { Row } from "../tables/types.ts";

/**
 * The Users service's user of a request, kept apart from `request.user` (which, under
 * `requireAuth: fn`, holds whatever principal the function returned and is not a user row).
 * A string key: the app's modules may import another copy of kiln than the one serving the
 * request, and `users.getUser()` there must still find the user (see global-state.ts).
 */
export const USER = slot<Row | null>("kiln.users.user.v2");

/** Sets the request's user: `request.user` and `users.getUser()` both give it. */
export function setRequestUser(ctx: RequestContext, user: Row | null): void {
  ctx.set(USER, user);
  ctx.user = user;
}

/**
 * The user row of this request: the output of the "users.authenticate" stage, or the user
 * logged in (or out) by the handler; undefined when not known.
 */
export function requestUser(ctx: RequestContext): Row | null | undefined {
  return ctx.get(USER);
}

/**
 * Sets the request's users row found through its session, on an endpoint that did not ask for
 * authentication: `request.user` takes it only when no `requireAuth` check set a principal.
 */
export function setSessionUser(ctx: RequestContext, user: Row | null): void {
  ctx.set(USER, user);
  if (ctx.user === null || ctx.user === undefined) ctx.user = user;
}
