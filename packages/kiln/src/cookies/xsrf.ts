import type { FastifyRequest } from "fastify";
import type { RequestContext } from "../http/context.ts";

/**
 * XSRF defence: is this request from another site? A browser names the page that caused a
 * request in `Origin` (always on cross-origin fetches and on every non-GET request) or, failing
 * that, `Referer`. If that origin is not the app's own (`protocol://Host`, with
 * X-Forwarded-Proto/Host honoured only when `trustProxy` is on), the request runs in a fresh,
 * empty session and an empty cookie jar, so a foreign page cannot act as the logged-in user.
 *
 * A request naming no origin at all (curl, another server, a bookmark) is not cross-site:
 * only a browser can carry the victim's cookies, and browsers send these headers. The one
 * browser case without them (a top-level GET from a page with `Referrer-Policy: no-referrer`)
 * is caught by `Sec-Fetch-Site`, which browsers send to HTTPS and loopback origins.
 */
export function isCrossSite(ctx: RequestContext): boolean {
  const req = ctx.raw;
  const fetchSite = header(req, "sec-fetch-site");
  if (fetchSite === "cross-site" || fetchSite === "same-site") return true;
  const named = header(req, "origin") ?? header(req, "referer");
  if (named === undefined) return false;
  // An unparsable or opaque ("null") origin is foreign: it is never the app's own page.
  const origin = originOf(named);
  return origin === null || origin !== ownOrigin(req);
}

/** The app's own origin as the client addressed it, e.g. `http://127.0.0.1:3000`. */
export function ownOrigin(req: FastifyRequest): string | null {
  return originOf(`${req.protocol}://${req.host}`);
}

/** The normalised origin of a URL (`null` for "null", garbage or opaque origins). */
function originOf(url: string): string | null {
  try {
    const origin = new URL(url).origin;
    return origin === "null" ? null : origin;
  } catch {
    return null;
  }
}

function header(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" ? value : undefined;
}
