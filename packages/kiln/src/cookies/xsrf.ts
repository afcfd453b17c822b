import { type RequestContext, slot } from "../http/context.ts";
import { header, originOf, originPolicy, requestOrigin } from "../http/origins.ts";

/**
 * XSRF defence: is this request from another site? A browser names the page that caused a
 * request in `Origin` (always on cross-origin fetches and on every non-GET request) or, failing
 * that, `Referer`. If that origin is not the app's own (`protocol://Host`, with
 * X-Forwarded-Proto/Host honoured only when `trustProxy` is on), the request is cross-site.
 *
 * A request naming no origin at all (curl, another server, a bookmark) is not cross-site:
 * only a browser can carry the victim's cookies, and browsers send these headers. The one
 * browser case without them (a top-level GET from a page with `Referrer-Policy: no-referrer`)
 * is caught by `Sec-Fetch-Site`, which browsers send to HTTPS and loopback origins.
 */
export function isCrossSite(ctx: RequestContext): boolean {
  const { headers } = ctx;
  const fetchSite = header(headers, "sec-fetch-site");
  if (fetchSite === "cross-site" || fetchSite === "same-site") return true;
  const named = header(headers, "origin") ?? header(headers, "referer");
  if (named === undefined) return false;
  // An unparsable or opaque ("null") origin is foreign: it is never the app's own page.
  const origin = originOf(named);
  return origin === null || origin !== ownOrigin(ctx);
}

const VERDICT = slot<boolean>("kiln.xsrf.foreign.v2");

/**
 * True when this request is cross-site (see `isCrossSite`) and the endpoint does not trust
 * the page's origin: then it must not run as the browser's user, whatever the browser
 * attached. Its session and cookie jar are empty and thrown away (cookies/request-state.ts),
 * and Basic credentials and logins are refused before any password check (users/).
 *
 * An endpoint trusts an origin listed in its `crossOrigin` (or accepted by its function),
 * or every origin with `crossSiteSession: true`. `crossOrigin: true` trusts none. Settled
 * once per request.
 */
export function isForeign(ctx: RequestContext): boolean {
  const known = ctx.get(VERDICT);
  if (typeof known === "boolean") return known;
  const verdict = isCrossSite(ctx) && !trustsPage(ctx);
  ctx.set(VERDICT, verdict);
  return verdict;
}

function trustsPage(ctx: RequestContext): boolean {
  if (ctx.endpoint.options.crossSiteSession === true) return true;
  const origin = requestOrigin(ctx.headers);
  return origin !== null && originPolicy(ctx.endpoint).trusts(origin, ctx, ctx.log);
}

/** The app's own origin as the client addressed it, e.g. `http://127.0.0.1:3000`. */
export function ownOrigin(ctx: RequestContext): string | null {
  return originOf(`${ctx.protocol}://${ctx.host}`);
}
