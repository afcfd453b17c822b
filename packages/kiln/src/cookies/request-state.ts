import { KilnError } from "../errors.ts";
import { type RequestContext, slot } from "../http/context.ts";
import { CookieJar } from "./cookie-jar.ts";
import type { CookiesRuntime } from "./cookies-runtime.ts";
import { RequestSession } from "./request-session.ts";
import { isForeign } from "./xsrf.ts";

/**
 * This request's cookie state: the output of the "cookies.session" stage when the request
 * carries a session cookie, else made on first use (by the handler, or a stage after it).
 */
export const COOKIE_STATE = slot<RequestCookieState>("kiln.cookies.request.v2");

/**
 * Per-request cookie and session state, made on first use: a request whose handler never
 * touches `cookies` or `session` (and carries no session cookie) never gets one. The jar and
 * the session are each made on first use too.
 */
export class RequestCookieState {
  /** Cross-site from an origin the endpoint does not trust: empty session, empty cookie jar. */
  readonly isolated: boolean;
  readonly #ctx: RequestContext;
  readonly #runtime: CookiesRuntime;
  readonly #secure: boolean;
  #jar: CookieJar | undefined;
  #session: RequestSession | undefined;

  constructor(ctx: RequestContext, runtime: CookiesRuntime) {
    this.#ctx = ctx;
    this.#runtime = runtime;
    this.isolated = isForeign(ctx);
    // Fastify's protocol honours X-Forwarded-Proto only when trustProxy is on.
    this.#secure = ctx.protocol === "https";
  }

  get jar(): CookieJar {
    this.#jar ??= new CookieJar(this.#runtime, this.#ctx.headers.cookie, {
      secure: this.#secure,
      isolated: this.isolated,
    });
    return this.#jar;
  }

  get session(): RequestSession {
    this.#session ??= new RequestSession(this.#runtime, {
      isolated: this.isolated,
      secure: this.#secure,
    });
    return this.#session;
  }

  /** The jar, if this request made one. */
  get madeJar(): CookieJar | undefined {
    return this.#jar;
  }

  /** The session, if this request made one. */
  get madeSession(): RequestSession | undefined {
    return this.#session;
  }
}

export function existingState(ctx: RequestContext): RequestCookieState | undefined {
  return ctx.get(COOKIE_STATE);
}

/**
 * The app serving a request, as far as cookies need it: the request context types its app
 * loosely (http/ does not know apps), and every app has this shape.
 */
interface CookiesApp {
  readonly services: { readonly cookies?: { readonly runtime: CookiesRuntime } };
}

/** This request's cookie state, made now if it was not yet. */
export function requestState(ctx: RequestContext): RequestCookieState {
  const existing = existingState(ctx);
  if (existing) return existing;
  const runtime = (ctx.app as CookiesApp).services.cookies?.runtime;
  if (!runtime) {
    throw new KilnError("KILN_NO_APP", "cookies and session need the app's cookies service");
  }
  const state = new RequestCookieState(ctx, runtime);
  ctx.set(COOKIE_STATE, state);
  return state;
}
