import { KilnError } from "../errors.ts";
import type { RequestContext } from "../http/context.ts";
import type { AuthScheme, EndpointOptions } from "../http/endpoint.ts";
import { rowRef } from "../tables/row-ref.ts";
import type { Row } from "../tables/types.ts";

/** An HTTP auth-scheme name (RFC 9110 token characters). */
const SCHEME_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * The app's own schemes of an endpoint: `requireAuth` given as one AuthScheme or a list of
 * them. Checked when the app starts, so a typo fails at start-up, not on the first request.
 */
export function customSchemes(path: string, requireAuth: EndpointOptions["requireAuth"]) {
  if (requireAuth === undefined || typeof requireAuth === "boolean") return [];
  if (typeof requireAuth === "function") return [];
  const list = (Array.isArray(requireAuth) ? requireAuth : [requireAuth]) as AuthScheme[];
  for (const scheme of list) {
    if (
      typeof scheme !== "object" ||
      scheme === null ||
      typeof scheme.scheme !== "string" ||
      !SCHEME_NAME.test(scheme.scheme) ||
      typeof scheme.check !== "function"
    ) {
      throw new KilnError(
        "KILN_BAD_ENDPOINT",
        `Endpoint ${path}: requireAuth takes true, a function, or schemes { scheme: "Token", check(credentials, request) }`,
      );
    }
  }
  return list;
}

/** Splits `Authorization: <scheme> <credentials>`; null when there is no space-separated scheme. */
export function splitAuthorization(
  header: string | string[] | undefined,
): { scheme: string; credentials: string } | null {
  if (typeof header !== "string") return null;
  const space = header.indexOf(" ");
  if (space <= 0) return null;
  return { scheme: header.slice(0, space), credentials: header.slice(space + 1).trim() };
}

/** The scheme of this list named by the header (case-insensitively), or undefined. */
export function findScheme(schemes: readonly AuthScheme[], name: string): AuthScheme | undefined {
  const lower = name.toLowerCase();
  return schemes.find((s) => s.scheme.toLowerCase() === lower);
}

/**
 * What an auth function returned, applied to the request: `request.user` is the principal;
 * a users row (enabled) is returned, to become the request's user exactly as after Basic
 * authentication (`users.getUser()`), and any other truthy value gives null (no user row).
 * Returns false for a refusal (falsy, or a disabled user's row).
 */
export function acceptPrincipal(ctx: RequestContext, principal: unknown): Row | null | false {
  if (!principal) return false;
  if (rowRef(principal)?.table === "users") {
    if ((principal as Row).enabled !== true) return false;
    ctx.user = principal;
    return principal as Row;
  }
  ctx.user = principal;
  return null;
}

/** The challenge of a custom scheme in a 401. */
export function schemeChallenge(scheme: string, realm: string): string {
  return `${scheme} realm="${realm.replace(/[\\"]/g, "\\$&")}"`;
}
