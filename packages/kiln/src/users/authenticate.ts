import { isForeign } from "../cookies/xsrf.ts";
import { HttpError } from "../errors.ts";
import { type RequestContext, request } from "../http/context.ts";
import type { AuthScheme, CredentialCheck, EndpointDefinition } from "../http/endpoint.ts";
import type { PipelineFeature, Stage } from "../http/pipeline.ts";
import {
  acceptPrincipal,
  customSchemes,
  findScheme,
  schemeChallenge,
  splitAuthorization,
} from "./auth-schemes.ts";
import { basicChallenge, parseBasicAuth } from "./basic-auth.ts";
import { bearerChallenge, parseBearer, setRequestToken } from "./bearer.ts";
import { deviceFor, rememberDevice } from "./device-cookie.ts";
import { CrossSiteRefused, TooManyAttempts } from "./errors.ts";
import { accountOf, addressKey } from "./guessing-defence.ts";
import { setRequestUser } from "./request-user.ts";
import { sessionUser } from "./session-user.ts";
import type { UsersService } from "./users-service.ts";

/**
 * Pipeline feature "authenticate": a stage only for endpoints with `authenticateUsers` or
 * `requireAuth` (others pay nothing). `authenticateUsers` wins when both are given, except
 * that AuthSchemes given in `requireAuth` are accepted beside its own.
 *
 * - `authenticateUsers: true`: Basic credentials of an enabled user, an API token of one
 *   (`Bearer kiln_...`), or (without an Authorization header) a session holding a logged-in
 *   user; else 401 + WWW-Authenticate naming Basic and Bearer. Too many failures from this
 *   address: 429 + Retry-After, without checking the password.
 * - `requireAuth: true`: Basic credentials must be present; the handler checks them.
 * - `requireAuth: fn`: `fn(username, password, request)` checks them; its result is
 *   `request.user` (a users row: the request's user), and a falsy result is a 401.
 * - `requireAuth: scheme(s)`: the scheme named by the header checks its credentials, likewise.
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
  const unauthorized = (ctx: RequestContext, message: string, value = challenge): HttpError => {
    ctx.responseHeaders["www-authenticate"] = value;
    return new HttpError(401, message);
  };

  const authenticateUser = (schemes: readonly AuthScheme[]): Stage => {
    // One header naming every scheme the endpoint accepts (RFC 9110 §11.6.1), Basic first:
    // a browser prompts for Basic, and API clients see that a token would do.
    const named = [challenge, bearerChallenge(realm), ...others(schemes, realm)];
    const usersChallenge = named.join(", ");
    const refuse = (ctx: RequestContext, message: string) =>
      unauthorized(ctx, message, usersChallenge);
    return async (ctx) => {
      if (isForeign(ctx)) throw new CrossSiteRefused();
      const header = ctx.raw.headers.authorization;
      if (header === undefined) {
        const user = await sessionUser(service);
        if (!user) throw refuse(ctx, "Authentication required");
        setRequestUser(ctx, user);
        return;
      }
      // The app's own schemes first: one named like a built-in scheme replaces it.
      if (schemes.length > 0) {
        const split = splitAuthorization(header);
        const scheme = split && findScheme(schemes, split.scheme);
        if (scheme && split) {
          const principal = await scheme.check(split.credentials, request);
          if (!acceptPrincipal(ctx, principal)) throw refuse(ctx, "Incorrect credentials");
          return;
        }
      }
      const token = parseBearer(header);
      if (token !== null) {
        const result = await service.checkToken(token);
        if (result.status === "denied") {
          const invalid = [challenge, bearerChallenge(realm, true), ...others(schemes, realm)];
          throw unauthorized(ctx, "Invalid, expired or revoked token", invalid.join(", "));
        }
        setRequestToken(ctx, result.token);
        setRequestUser(ctx, result.user);
        return;
      }
      const credentials = parseBasicAuth(header);
      if (!credentials) throw refuse(ctx, "Malformed Basic credentials");
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
      if (result.status === "denied") throw refuse(ctx, "Incorrect email address or password");
      // Only after a real password check: the fast path (remembered credentials) sends nothing.
      if (result.verified) rememberDevice(ctx, account);
      ctx.username = credentials.username;
      ctx.password = credentials.password;
      setRequestUser(ctx, result.user);
    };
  };

  const requireCredentials = (check: CredentialCheck | null): Stage => {
    return async (ctx) => {
      if (isForeign(ctx)) throw new CrossSiteRefused();
      const credentials = parseBasicAuth(ctx.raw.headers.authorization);
      if (!credentials) throw unauthorized(ctx, "Authentication required");
      ctx.username = credentials.username;
      ctx.password = credentials.password;
      if (!check) return;
      const principal = await check(credentials.username, credentials.password, request);
      if (!acceptPrincipal(ctx, principal)) {
        throw unauthorized(ctx, "Incorrect username or password");
      }
    };
  };

  const requireSchemes = (schemes: readonly AuthScheme[]): Stage => {
    const value = others(schemes, realm).join(", ");
    return async (ctx) => {
      // As for Basic: an app's scheme may be one a browser attaches by itself (Basic, Digest,
      // Negotiate), so a request another site's page sent never reaches its check.
      if (isForeign(ctx)) throw new CrossSiteRefused();
      const split = splitAuthorization(ctx.raw.headers.authorization);
      const scheme = split && findScheme(schemes, split.scheme);
      if (!scheme || !split) throw unauthorized(ctx, "Authentication required", value);
      const principal = await scheme.check(split.credentials, request);
      if (!acceptPrincipal(ctx, principal)) {
        throw unauthorized(ctx, "Incorrect credentials", value);
      }
    };
  };

  return {
    name: "authenticate",
    beforeHandler(endpoint: EndpointDefinition): Stage | null {
      const { authenticateUsers, requireAuth } = endpoint.options;
      const schemes = customSchemes(endpoint.path, requireAuth);
      if (authenticateUsers) return authenticateUser(schemes);
      if (schemes.length > 0) return requireSchemes(schemes);
      if (typeof requireAuth === "function") return requireCredentials(requireAuth);
      if (requireAuth) return requireCredentials(null);
      return null;
    },
  };
}

/** The challenges of the app's own schemes. */
function others(schemes: readonly AuthScheme[], realm: string): string[] {
  return schemes.map((s) => schemeChallenge(s.scheme, realm));
}
