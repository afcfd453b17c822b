import { COOKIE_STATE } from "../cookies/request-state.ts";
import type { RequestContext } from "../http/context.ts";
import type { PipelineFeature, Stage } from "../http/pipeline.ts";
import type { Row } from "../tables/types.ts";
import { loadedSessionUserId } from "./login-state.ts";
import { requestUser, setSessionUser } from "./request-user.ts";

/** What the session's user is checked against: an enabled account (see UsersService). */
export interface SessionUserSource {
  enabledUser(id: string): Promise<Row | null>;
}

/**
 * The user the request's session (as the "cookies.session" stage loaded it) is logged in as,
 * if that account may still use it (enabled), else null. `authenticateUsers` endpoints and
 * every other endpoint check a session the same way, here.
 */
export function sessionUser(source: SessionUserSource, ctx: RequestContext): Promise<Row | null> {
  const id = loadedSessionUserId(ctx);
  return id === null ? Promise.resolve(null) : source.enabledUser(id);
}

/**
 * Pipeline feature "session user": on an endpoint without `authenticateUsers`, reads the
 * session's user before the handler, so that `users.getUser()` (synchronous) and the
 * handler's `user` give it there too. Only a request whose session holds a logged-in user pays
 * a lookup; any other request passes through synchronously.
 */
export function sessionUserFeature(source: SessionUserSource): PipelineFeature {
  const load: Stage<void> = {
    name: "users.session-user",
    needs: [COOKIE_STATE],
    run(ctx) {
      // The common request (no session cookie) costs one lookup here.
      const id = loadedSessionUserId(ctx);
      if (id === null || requestUser(ctx) !== undefined) return;
      return source.enabledUser(id).then((user) => keep(ctx, user));
    },
  };
  return {
    name: "session user",
    beforeHandler: (endpoint) => (endpoint.options.authenticateUsers ? null : load),
  };
}

function keep(ctx: RequestContext, user: Row | null): void {
  // A login during the request may have set the user meanwhile: it wins.
  if (requestUser(ctx) === undefined) setSessionUser(ctx, user);
}
