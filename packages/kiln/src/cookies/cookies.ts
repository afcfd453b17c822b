import { currentContext, type RequestContext } from "../http/context.ts";
import type { CookieScope } from "./cookies-runtime.ts";
import { requestState } from "./request-state.ts";

export interface CookieSetOptions {
  /** Days until the browser drops the cookie (and Kiln stops accepting it); default 30, at most 400. */
  maxAge?: number;
}

/** One family of encrypted cookies: `cookies.local` or `cookies.shared`. */
export interface EncryptedCookies {
  /** The value stored under `name`, or undefined when absent, expired, tampered with or foreign. */
  get<T = unknown>(name: string): T | undefined;
  /** Stores a JSON-serialisable value; `undefined` deletes. Sent when the response is. */
  set(name: string, value: unknown, options?: CookieSetOptions): void;
  delete(name: string): void;
}

function family(resolve: () => RequestContext, scope: CookieScope): EncryptedCookies {
  return {
    get<T>(name: string): T | undefined {
      return requestState(resolve()).jar.get(scope, name) as T | undefined;
    },
    set(name: string, value: unknown, options: CookieSetOptions = {}): void {
      requestState(resolve()).jar.set(scope, name, value, options.maxAge ?? 30);
    },
    delete(name: string): void {
      requestState(resolve()).jar.delete(scope, name);
    },
  };
}

/**
 * The encrypted cookies of the request `resolve` gives, at each call: the importable `cookies`
 * resolve the request being handled, a handler's `ctx.cookies` its own request.
 */
export function cookiesOf(resolve: () => RequestContext): {
  readonly local: EncryptedCookies;
  readonly shared: EncryptedCookies;
} {
  return { local: family(resolve, "local"), shared: family(resolve, "shared") };
}

/**
 * Encrypted, authenticated cookies (AES-256-GCM): the browser keeps them but can neither read
 * nor forge them; anything tampered with, expired or made under another key reads as absent.
 * `local` cookies belong to this app; `shared` ones are readable by every Kiln app configured
 * with the same `services.cookies.sharedSecret` (or `KILN_SHARED_SECRET`) on the same domain.
 * Synchronous inside a handler; written to the response after it. A cross-site request (see
 * XSRF) sees no cookies, and what it sets is not sent.
 * @example
 * httpEndpoint("/theme", ({ theme }) => {
 *   if (theme) cookies.local.set("theme", theme, { maxAge: 365 });
 *   return { theme: cookies.local.get<string>("theme") ?? "light" };
 * });
 */
export const cookies: { readonly local: EncryptedCookies; readonly shared: EncryptedCookies } =
  cookiesOf(currentContext);
