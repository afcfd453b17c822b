import { createHash, randomBytes } from "node:crypto";
import { requestState } from "../cookies/request-state.ts";
import type { RequestContext } from "../http/context.ts";

/**
 * The device cookie (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): after a
 * password was verified in a browser, Kiln gives that browser an encrypted cookie (the app's
 * own cookie crypto: AES-256-GCM, see cookies/crypto.ts) naming a random device id and the
 * accounts it logged in to. When it tries to log in again, to one of those accounts, its
 * attempts are counted per device and the account-wide ceiling does not apply
 * (guessing-defence.ts): a distributed attack on the account cannot keep its owner's browser
 * out, even from a new address.
 *
 * The cookie is `HttpOnly; SameSite=Lax` like every Kiln cookie, unreadable and unforgeable
 * by the browser's user; one that fails to open reads as absent. Accounts are kept as a short
 * hash of the lower-cased email (the 5 most recent), so the cookie stays small.
 */
const NAME = "_kiln_device";
const MAX_ACCOUNTS = 5;
const KEEP_DAYS = 365;
const ID = /^[A-Za-z0-9_-]{22}$/;

interface DeviceCookie {
  /** A random device id (128 bits). */
  d: string;
  /** Tags of the accounts this browser logged in to, newest first. */
  a: string[];
}

/** The device id when this request's device cookie vouches for `account`, else null. */
export function deviceFor(ctx: RequestContext | undefined, account: string): string | null {
  const cookie = read(ctx);
  return cookie?.a.includes(tag(account)) ? cookie.d : null;
}

/** After a verified password: make sure this browser's device cookie names `account`. */
export function rememberDevice(ctx: RequestContext | undefined, account: string): void {
  if (!ctx || !hasCookies(ctx)) return;
  const cookie = read(ctx);
  const accountTag = tag(account);
  if (cookie?.a[0] === accountTag) return; // already vouched for, most recently: nothing to send
  const next: DeviceCookie = {
    d: cookie?.d ?? randomBytes(16).toString("base64url"),
    a: [accountTag, ...(cookie?.a ?? []).filter((t) => t !== accountTag)].slice(0, MAX_ACCOUNTS),
  };
  requestState(ctx).jar.set("local", NAME, next, KEEP_DAYS);
}

function read(ctx: RequestContext | undefined): DeviceCookie | null {
  if (!ctx || !hasCookies(ctx) || typeof ctx.headers.cookie !== "string") return null;
  const value = requestState(ctx).jar.get("local", NAME) as Partial<DeviceCookie> | undefined;
  if (!value || typeof value.d !== "string" || !ID.test(value.d) || !Array.isArray(value.a)) {
    return null;
  }
  return { d: value.d, a: value.a.filter((t): t is string => typeof t === "string") };
}

function hasCookies(ctx: RequestContext): boolean {
  // Typed loosely on the request (http/ does not know apps); every app has `services`.
  return (
    (ctx.app as { readonly services: { readonly cookies?: object } }).services.cookies !== undefined
  );
}

/** 96 bits of SHA-256 of the account: enough to tell a browser's few accounts apart. */
function tag(account: string): string {
  return createHash("sha256").update(account).digest("base64url").slice(0, 16);
}
