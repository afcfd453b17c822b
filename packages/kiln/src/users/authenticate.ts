import { isForeign } from "../cookies/xsrf.ts";
import { HttpError } from "../errors.ts";
import type { RequestContext } from "../http/context.ts";
import type { CredentialCheck, EndpointDefinition } from "../http/endpoint.ts";
import type { PipelineFeature, Stage } from "../http/pipeline.ts";
import { basicChallenge, parseBasicAuth } from "./basic-auth.ts";
import { deviceFor, rememberDevice } from "./device-cookie.ts";
import { CrossSiteRefused, TooManyAttempts } from "./errors.ts";
import { accountOf, addressKey } from "./guessing-defence.ts";
import { sessionUserId } from "./login-state.ts";
import { setRequestUser } from "./request-user.ts";
import type { UsersService } from "./users-service.ts";

/**
 * Pipeline feature "authenticate": a stage only for endpoints with `authenticateUsers` or
 * `requireAuth` (others pay nothing). `authenticateUsers` wins when both are given.
 *
 * - `authenticateUsers: true`: Basic credentials of an enabled user, or (without an
 *   Authorization header) a session holding a logged-in user; else 401 + WWW-Authenticate.
 *   Too many failures from this address: 429 + Retry-After, without checking the password.
 * - `requireAuth: true`: Basic credentials must be present; the handler checks them.
 * - `requireAuth: fn`: `fn(username, password)` checks them; its result is `request.user`,
 *   and a falsy result is a 401.
 * A malformed Authorization header counts as no credentials: a 401, never a 500.
 *
 * A request from another site's page that the endpoint does not trust (see `isForeign`) is
 * refused with 403 before anything else, with or without credentials: a browser attaches
 * remembered Basic credentials by itself, so their presence proves nothing about who sent
 * the request. No password is checked and no failure counted, and no `WWW-Authenticate` is
 * sent, so a foreign page cannot make the browser prompt for (or replay) a password.
 */
export function authenticateFeature(service: UsersService, realm: string): PipelineFeature {
  const challenge = basicChallenge(realm);
  const unauthorized = (ctx: RequestContext, message: string): HttpError => {
    ctx.responseHeaders["www-authenticate"] = challenge;
    return new HttpError(401, message);
  };

  const authenticateUser: Stage = async (ctx) => {
    if (isForeign(ctx)) throw new CrossSiteRefused();
    const header = ctx.raw.headers.authorization;
    if (header === undefined) {
      const id = sessionUserId();
      const user = id === null ? null : await service.enabledUser(id);
      if (!user) throw unauthorized(ctx, "Authentication required");
      setRequestUser(ctx, user);
      return;
    }
    const credentials = parseBasicAuth(header);
    if (!credentials) throw unauthorized(ctx, "Malformed Basic credentials");
    const account = accountOf(credentials.username);
    const result = await service.checkCredentials(
      credentials.username,
      credentials.password,
      addressKey(ctx.raw.ip),
      deviceFor(ctx, account),
    );
    if (result.status === "throttled") {
      ctx.responseHeaders["retry-after"] = String(result.retryAfterSeconds);
      throw new TooManyAttempts(result.retryAfterSeconds);
    }
    if (result.status === "denied") throw unauthorized(ctx, "Incorrect email address or password");
    // Only after a real password check: the fast path (remembered credentials) sends nothing.
    if (result.verified) rememberDevice(ctx, account);
    ctx.username = credentials.username;
    ctx.password = credentials.password;
    setRequestUser(ctx, result.user);
  };

  const requireCredentials = (check: CredentialCheck | null): Stage => {
    return async (ctx) => {
      if (isForeign(ctx)) throw new CrossSiteRefused();
      const credentials = parseBasicAuth(ctx.raw.headers.authorization);
      if (!credentials) throw unauthorized(ctx, "Authentication required");
      ctx.username = credentials.username;
      ctx.password = credentials.password;
      if (!check) return;
      const principal = await check(credentials.username, credentials.password);
      if (!principal) throw unauthorized(ctx, "Incorrect username or password");
      ctx.user = principal;
    };
  };

  return {
    name: "authenticate",
    beforeHandler(endpoint: EndpointDefinition): Stage | null {
      const { authenticateUsers, requireAuth } = endpoint.options;
      if (authenticateUsers) return authenticateUser;
      if (typeof requireAuth === "function") return requireCredentials(requireAuth);
      if (requireAuth) return requireCredentials(null);
      return null;
    },
  };
}
