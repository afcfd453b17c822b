import { type RequestContext, slot } from "../http/context.ts";
import type { TokenInfo } from "./tokens.ts";

/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750), or null when the header
 * is absent or another scheme. The scheme name is case-insensitive; the token is returned as
 * sent (the caller checks its shape before any database work).
 * @example parseBearer("Bearer kiln_abc") // "kiln_abc"
 */
export function parseBearer(header: string | string[] | undefined): string | null {
  if (typeof header !== "string") return null;
  // "Bearer" alone (an empty token, trimmed by the client) is still a Bearer attempt.
  const space = header.indexOf(" ");
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== "bearer") return null;
  return space === -1 ? "" : header.slice(space + 1).trim();
}

/** The `Bearer` challenge of a 401; `invalid` adds RFC 6750's `error="invalid_token"`. */
export function bearerChallenge(realm: string, invalid = false): string {
  const quoted = realm.replace(/[\\"]/g, "\\$&");
  return `Bearer realm="${quoted}"${invalid ? ', error="invalid_token"' : ""}`;
}

const TOKEN = slot<TokenInfo>("kiln.users.token.v2");

/** Records the API token a request was authenticated with (`users.getToken()` reads it). */
export function setRequestToken(ctx: RequestContext, token: TokenInfo): void {
  ctx.set(TOKEN, token);
}

/** The API token this request was authenticated with, or null. */
export function requestToken(ctx: RequestContext): TokenInfo | null {
  return ctx.get(TOKEN) ?? null;
}
