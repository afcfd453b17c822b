import type { Logger } from "pino";
import type { CookiesSettings } from "./cookies-config.ts";
import type { CookieKeyring } from "./crypto.ts";
import type { SessionStore } from "./session-store.ts";

/** What the cookies service hands to each request: settings, keys, the session store, a clock. */
export interface CookiesRuntime {
  readonly settings: CookiesSettings;
  readonly localKeys: CookieKeyring;
  /** Null when no shared secret is configured. */
  readonly sharedKeys: CookieKeyring | null;
  readonly store: SessionStore;
  /** Unix milliseconds; replaceable in tests. */
  now(): number;
  readonly log: Logger;
}

export type CookieScope = "local" | "shared";

/**
 * The name a cookie has in the browser. Local cookies and the session cookie carry the app's
 * name, so two apps served from one host (cookies ignore ports) do not overwrite each other's;
 * shared cookies do not, so every app with the same shared secret finds them.
 */
export function browserCookieName(
  settings: CookiesSettings,
  scope: CookieScope,
  name: string,
): string {
  return scope === "local" ? `kiln.${settings.appSlug}.${name}` : `kiln-shared.${name}`;
}

export function sessionCookieName(settings: CookiesSettings): string {
  return `kiln-session.${settings.appSlug}`;
}
