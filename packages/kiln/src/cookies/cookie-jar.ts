import { KilnError } from "../errors.ts";
import { BROWSER_COOKIE_LIMIT, cookieValues, setCookieLine } from "./cookie-header.ts";
import { browserCookieName, type CookieScope, type CookiesRuntime } from "./cookies-runtime.ts";
import { open, seal } from "./crypto.ts";

const DAY = 86_400;
/** Browsers cap a cookie's lifetime at 400 days (RFC 6265bis); longer would be silently cut. */
const MAX_AGE_DAYS = 400;
const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** A pending write: the JSON of the new value, or null for a delete; and its Set-Cookie line. */
interface Write {
  json: string | null;
  line: string;
}

/**
 * The encrypted cookies of one request: values read from the `Cookie` header (decrypted once,
 * on first read) and values written by the handler, sent as `Set-Cookie` lines after it.
 * An isolated jar (a cross-site request) reads nothing and sends nothing, so a foreign page
 * can neither read the browser's cookies through the app nor overwrite them.
 */
export class CookieJar {
  readonly #runtime: CookiesRuntime;
  readonly #header: string | string[] | undefined;
  readonly #secure: boolean;
  readonly #isolated: boolean;
  readonly #read = new Map<string, string | null>();
  readonly #writes = new Map<string, Write>();

  constructor(
    runtime: CookiesRuntime,
    header: string | string[] | undefined,
    options: { secure: boolean; isolated: boolean },
  ) {
    this.#runtime = runtime;
    this.#header = header;
    this.#secure = options.secure;
    this.#isolated = options.isolated;
  }

  get(scope: CookieScope, name: string): unknown {
    const full = this.#name(scope, name);
    const written = this.#writes.get(full);
    const json = written ? written.json : this.#readSealed(scope, full);
    return json === null ? undefined : JSON.parse(json);
  }

  set(scope: CookieScope, name: string, value: unknown, maxAgeDays = 30): void {
    const full = this.#name(scope, name);
    if (value === undefined) {
      this.delete(scope, name);
      return;
    }
    if (typeof maxAgeDays !== "number" || !(maxAgeDays > 0) || maxAgeDays > MAX_AGE_DAYS) {
      throw new KilnError(
        "KILN_BAD_COOKIE",
        `Cookie "${name}": maxAge must be a number of days above 0 and at most ${MAX_AGE_DAYS}`,
      );
    }
    const json = toJson(name, value);
    const maxAge = Math.round(maxAgeDays * DAY);
    const expiresAt = this.#runtime.now() / 1000 + maxAge;
    const sealed = seal(this.#keys(scope), full, json, expiresAt);
    const size = Buffer.byteLength(full) + 1 + sealed.length;
    if (size > BROWSER_COOKIE_LIMIT) {
      throw new KilnError(
        "KILN_COOKIE_TOO_LARGE",
        `Cookie "${name}" is ${size} bytes once encrypted; browsers keep at most ${BROWSER_COOKIE_LIMIT} (store less in it, or use the session)`,
      );
    }
    this.#writes.set(full, { json, line: this.#line(scope, full, sealed, maxAge) });
  }

  delete(scope: CookieScope, name: string): void {
    const full = this.#name(scope, name);
    this.#writes.set(full, { json: null, line: this.#line(scope, full, "", 0) });
  }

  /** The `Set-Cookie` lines to send (none for an isolated jar). */
  setCookieLines(): string[] {
    if (this.#isolated) return [];
    return [...this.#writes.values()].map((write) => write.line);
  }

  #readSealed(scope: CookieScope, full: string): string | null {
    if (this.#isolated) return null;
    const cached = this.#read.get(full);
    if (cached !== undefined) return cached;
    const keys = this.#keys(scope);
    const now = this.#runtime.now() / 1000;
    let found: string | null = null;
    for (const value of cookieValues(this.#header, full)) {
      found = open(keys, full, value, now);
      if (found !== null) break;
    }
    this.#read.set(full, found);
    return found;
  }

  #name(scope: CookieScope, name: string): string {
    if (typeof name !== "string" || !NAME.test(name)) {
      throw new KilnError(
        "KILN_BAD_COOKIE",
        `Cookie name ${JSON.stringify(name)} must be 1-128 letters, digits, "_", "." or "-"`,
      );
    }
    return browserCookieName(this.#runtime.settings, scope, name);
  }

  #keys(scope: CookieScope) {
    if (scope === "local") return this.#runtime.localKeys;
    const keys = this.#runtime.sharedKeys;
    if (!keys) {
      throw new KilnError(
        "KILN_NO_SHARED_SECRET",
        "cookies.shared needs a shared secret: set services.cookies.sharedSecret in kiln.yaml or KILN_SHARED_SECRET",
      );
    }
    return keys;
  }

  #line(scope: CookieScope, full: string, value: string, maxAge: number): string {
    const domain = scope === "shared" ? this.#runtime.settings.sharedDomain : null;
    return setCookieLine(full, value, { maxAge, secure: this.#secure, domain });
  }
}

function toJson(name: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new KilnError(
      "KILN_BAD_COOKIE",
      `Cookie "${name}": value is not JSON-serialisable (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (json === undefined) {
    throw new KilnError("KILN_BAD_COOKIE", `Cookie "${name}": value is not JSON-serialisable`);
  }
  return json;
}
