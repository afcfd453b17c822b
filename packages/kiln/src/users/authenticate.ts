import { COOKIE_STATE } from "../cookies/request-state.ts";
import { isForeign } from "../cookies/xsrf.ts";
import { HttpError } from "../errors.ts";
import { type KilnRequest, type RequestContext, requestOf } from "../http/context.ts";
import type { AuthScheme, CredentialCheck, EndpointDefinition } from "../http/endpoint.ts";
import type { PipelineFeature, Stage } from "../http/pipeline.ts";
import type { Row } from "../tables/types.ts";
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
import { USER } from "./request-user.ts";
import { sessionUser } from "./session-user.ts";
import type { CredentialCheckResult, UsersService } from "./users-service.ts";

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
 * The stage is named "users.authenticate"; its output is the request's user row (USER), read
 * by `users.getUser()`; it reads the session the "cookies.session" stage loaded (COOKIE_STATE).
 * `request.user` (the principal) is set with it.
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

  /** The stage of one endpoint: `check` returns the user row, or undefined (no row). */
  const stage = (
    check: (ctx: RequestContext) => Row | undefined | Promise<Row | undefined>,
  ): Stage<Row | null | undefined> => ({
    name: "users.authenticate",
    needs: [COOKIE_STATE],
    output: USER,
    run: check,
  });
  /** The request's user: the stage's output, and `request.user`. */
  const found = (ctx: RequestContext, user: Row): Row => {
    ctx.user = user;
    return user;
  };

  const authenticateUser = (schemes: readonly AuthScheme[]): Stage<Row | null | undefined> => {
    // One header naming every scheme the endpoint accepts (RFC 9110 §11.6.1), Basic first:
    // a browser prompts for Basic, and API clients see that a token would do.
    const named = [challenge, bearerChallenge(realm), ...others(schemes, realm)];
    const usersChallenge = named.join(", ");
    const refuse = (ctx: RequestContext, message: string) =>
      unauthorized(ctx, message, usersChallenge);
    /**
     * Basic credentials answer without a promise when the service does (a remembered
     * credential): the stage is then synchronous, as are the pipeline's stages around it.
     */
    const basic = (ctx: RequestContext, header: string | string[]): Row | Promise<Row> => {
      const credentials = parseBasicAuth(header);
      if (!credentials) throw refuse(ctx, "Malformed Basic credentials");
      const account = accountOf(credentials.username);
      const checked = service.checkCredentials(
        credentials.username,
        credentials.password,
        addressKey(ctx.ip),
        deviceFor(ctx, account),
      );
      const outcome = (result: CredentialCheckResult): Row => {
        if (result.status === "throttled") {
          ctx.responseHeaders["retry-after"] = String(result.retryAfterSeconds);
          throw new TooManyAttempts(result.retryAfterSeconds);
        }
        if (result.status === "denied") throw refuse(ctx, "Incorrect email address or password");
        // Only after a real password check: the fast path (remembered credentials) sends nothing.
        if (result.verified) rememberDevice(ctx, account);
        ctx.username = credentials.username;
        ctx.password = credentials.password;
        return found(ctx, result.user);
      };
      return checked instanceof Promise ? checked.then(outcome) : outcome(checked);
    };
    return stage((ctx) => {
      if (isForeign(ctx)) throw new CrossSiteRefused();
      const header = ctx.headers.authorization;
      if (typeof header === "string" && schemes.length === 0 && parseBearer(header) === null) {
        return basic(ctx, header);
      }
      return slower(ctx, header);
    });

    /** A session, the app's own schemes, a token, or Basic through them. */
    async function slower(ctx: RequestContext, header: string | string[] | undefined) {
      if (header === undefined) {
        const user = await sessionUser(service, ctx);
        if (!user) throw refuse(ctx, "Authentication required");
        return found(ctx, user);
      }
      // The app's own schemes first: one named like a built-in scheme replaces it.
      if (schemes.length > 0) {
        const split = splitAuthorization(header);
        const scheme = split && findScheme(schemes, split.scheme);
        if (scheme && split) {
          const principal = await scheme.check(split.credentials, checkRequest(ctx));
          const accepted = acceptPrincipal(ctx, principal);
          if (accepted === false) throw refuse(ctx, "Incorrect credentials");
          return accepted ?? undefined;
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
        return found(ctx, result.user);
      }
      return basic(ctx, header);
    }
  };

  const requireCredentials = (check: CredentialCheck | null): Stage<Row | null | undefined> => {
    return stage(async (ctx) => {
      if (isForeign(ctx)) throw new CrossSiteRefused();
      const credentials = parseBasicAuth(ctx.headers.authorization);
      if (!credentials) throw unauthorized(ctx, "Authentication required");
      ctx.username = credentials.username;
      ctx.password = credentials.password;
      if (!check) return undefined;
      const principal = await check(credentials.username, credentials.password, checkRequest(ctx));
      const accepted = acceptPrincipal(ctx, principal);
      if (accepted === false) throw unauthorized(ctx, "Incorrect username or password");
      return accepted ?? undefined;
    });
  };

  const requireSchemes = (schemes: readonly AuthScheme[]): Stage<Row | null | undefined> => {
    const value = others(schemes, realm).join(", ");
    return stage(async (ctx) => {
      // As for Basic: an app's scheme may be one a browser attaches by itself (Basic, Digest,
      // Negotiate), so a request another site's page sent never reaches its check.
      if (isForeign(ctx)) throw new CrossSiteRefused();
      const split = splitAuthorization(ctx.headers.authorization);
      const scheme = split && findScheme(schemes, split.scheme);
      if (!scheme || !split) throw unauthorized(ctx, "Authentication required", value);
      const principal = await scheme.check(split.credentials, checkRequest(ctx));
      const accepted = acceptPrincipal(ctx, principal);
      if (accepted === false) throw unauthorized(ctx, "Incorrect credentials", value);
      return accepted ?? undefined;
    });
  };

  return {
    name: "authenticate",
    beforeHandler(endpoint: EndpointDefinition): Stage<Row | null | undefined> | null {
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

/**
 * The request handed to an app's own credential check: bound to `ctx` rather than looked up
 * through AsyncLocalStorage (as the importable `request` is), so the check may read it anywhere.
 */
function checkRequest(ctx: RequestContext): KilnRequest {
  return requestOf(() => ctx);
}
