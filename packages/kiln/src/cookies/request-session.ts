import { randomBytes } from "node:crypto";
import { KilnError } from "../errors.ts";
import { cookieValues, setCookieLine } from "./cookie-header.ts";
import { type CookiesRuntime, sessionCookieName } from "./cookies-runtime.ts";
import type { SessionRecord } from "./session-store.ts";

/**
 * The session of one request. Loaded (at most once) from the session cookie before the
 * handler, read and changed synchronously by it, and saved by `flush()` after it:
 *
 * - nothing is written when the data did not change (a request that never touches the
 *   session creates no row and sends no cookie);
 * - an existing session is updated in place, never recreated, and only if nobody else saved
 *   it since this request loaded it (the stored data is the version): otherwise this
 *   request's own changes are applied to what is stored now, so a concurrent logout stays a
 *   logout and a key another request deleted stays deleted;
 * - `regenerate()` (login) moves the data to a brand-new token and deletes the old row, so a
 *   token planted before login is worthless after it (no session fixation). Like a save, it
 *   moves the version it loaded or applies its own changes to the one stored now; if the
 *   session was logged out or moved meanwhile, only the keys this request set go to the new
 *   token (a stale request cannot bring the logged-out session back);
 * - a session whose data becomes empty (`clear()`, logout) is deleted and its cookie expired.
 *
 * An isolated session (a cross-site request) starts empty and is never saved.
 */
export class RequestSession {
  readonly #runtime: CookiesRuntime;
  readonly #isolated: boolean;
  readonly #secure: boolean;
  #token: string | null = null;
  #record: SessionRecord | null = null;
  #data: Record<string, unknown> = {};
  #original = "{}";
  /** Keys this request set or deleted: its own changes, whatever the values it loaded. */
  readonly #written = new Set<string>();
  #regenerate = false;
  /** The request carried a session cookie that matched no live session. */
  #staleCookie = false;

  constructor(runtime: CookiesRuntime, options: { isolated: boolean; secure: boolean }) {
    this.#runtime = runtime;
    this.#isolated = options.isolated;
    this.#secure = options.secure;
  }

  /** Reads the session named by the request's cookie, if any (once per request). */
  async load(cookieHeader: string | string[] | undefined): Promise<void> {
    if (this.#isolated) return;
    const now = this.#runtime.now();
    for (const token of cookieValues(cookieHeader, this.#cookieName())) {
      if (!/^[A-Za-z0-9_-]{43}$/.test(token)) continue;
      const record = await this.#runtime.store.load(token, now);
      if (record) {
        this.#token = token;
        this.#record = record;
        this.#data = record.data;
        this.#original = JSON.stringify(record.data);
        this.#staleCookie = false;
        return;
      }
      this.#staleCookie = true;
    }
  }

  get(key: string): unknown {
    const value = this.#data[key];
    // A copy, so changing the returned object does not change the session behind set()'s back.
    return value === undefined ? undefined : structuredClone(value);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.#data, key);
  }

  keys(): string[] {
    return Object.keys(this.#data);
  }

  set(key: string, value: unknown): void {
    if (value === undefined) {
      this.delete(key);
      return;
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (error) {
      throw new KilnError(
        "KILN_BAD_SESSION_VALUE",
        `session.set("${key}"): value is not JSON-serialisable (${(error as Error).message})`,
      );
    }
    if (json === undefined) {
      throw new KilnError(
        "KILN_BAD_SESSION_VALUE",
        `session.set("${key}"): value is not JSON-serialisable`,
      );
    }
    this.#data = { ...this.#data, [key]: JSON.parse(json) };
    this.#written.add(key);
  }

  delete(key: string): void {
    this.#written.add(key);
    if (!this.has(key)) return;
    const { [key]: _removed, ...rest } = this.#data;
    this.#data = rest;
  }

  clear(): void {
    for (const key of Object.keys(this.#data)) this.#written.add(key);
    this.#data = {};
  }

  regenerate(): void {
    this.#regenerate = true;
  }

  /** True when a session exists for this request or is about to (for the security headers). */
  get active(): boolean {
    return this.#token !== null || Object.keys(this.#data).length > 0;
  }

  /** Saves what changed; returns the Set-Cookie line to send, if any. */
  async flush(): Promise<string | null> {
    if (this.#isolated) return null;
    const { store } = this.#runtime;
    const now = this.#runtime.now();
    const empty = Object.keys(this.#data).length === 0;
    const changed = JSON.stringify(this.#data) !== this.#original;
    if (this.#regenerate && this.#token !== null) return this.#move(now);
    if (this.#regenerate || (changed && this.#token === null)) {
      if (empty) return this.#staleCookie ? this.#expire() : null;
      return this.#create(now);
    }
    if (this.#token === null || this.#record === null) {
      return this.#staleCookie ? this.#expire() : null;
    }
    if (changed && empty) {
      await store.delete(this.#token);
      return this.#expire();
    }
    const record = this.#record;
    if (changed) {
      return this.#save(record, now);
    } else if (now - record.lastSeenAt >= this.#touchInterval()) {
      const { lastSeenAt, expiresAt } = this.#times(record.createdAt, now);
      await store.touch(this.#token, lastSeenAt, expiresAt);
    }
    return null;
  }

  /**
   * Writes this request's data over the session it loaded, if nobody saved that session
   * since. If someone did (another request, a logout), only the keys this request changed are
   * applied to the data stored now; if the session is gone, nothing is written.
   */
  async #save(loaded: SessionRecord, now: number): Promise<string | null> {
    const { store } = this.#runtime;
    const token = this.#token!;
    let emptied = false;
    await this.#overLatest(now, async (data, expected) => {
      if (Object.keys(data).length > 0) {
        return store.update(
          token,
          { ...loaded, data, ...this.#times(loaded.createdAt, now) },
          expected,
        );
      }
      await store.delete(token);
      emptied = true;
      return true;
    });
    // Gone meanwhile (logged out, expired), or saved over and over by others: theirs stands.
    return emptied ? this.#expire() : null;
  }

  /**
   * `regenerate()` of a loaded session: deletes the old row, if it still holds the version this
   * request loaded, and creates a new one with this request's data. If another request saved
   * the session meanwhile, this request's own changes go over the data stored now; if the
   * session is gone (logged out and moved, cleared, expired), only the keys this request
   * wrote go to the new one, so the logged-out data (the user) does not come back.
   */
  async #move(now: number): Promise<string | null> {
    const { store } = this.#runtime;
    const token = this.#token!;
    const moved = await this.#overLatest(now, (_data, expected) => store.delete(token, expected));
    if (moved) {
      this.#data = moved;
      return Object.keys(moved).length === 0 ? this.#expire() : this.#create(now);
    }
    // Gone meanwhile (or saved over and over by others): only what this request wrote itself.
    // Nothing to write: no cookie, so the browser keeps whatever the other request gave it.
    await store.delete(token); // the old token must die all the same (fixation)
    let own: Record<string, unknown> = {};
    for (const key of this.#written) {
      if (Object.hasOwn(this.#data, key)) own = { ...own, [key]: this.#data[key] };
    }
    if (Object.keys(own).length === 0) return null;
    this.#data = own;
    return this.#create(now);
  }

  /**
   * Runs `write(data, expected)`, a write that does nothing and returns false unless the
   * stored data is `expected`: first with this request's data over the version it loaded,
   * then, while another request saved meanwhile, with this request's own changes over what is
   * stored now. Returns the data that went through, or null when the session is gone (or
   * others kept saving it).
   */
  async #overLatest(
    now: number,
    write: (data: Record<string, unknown>, expected: Record<string, unknown>) => Promise<boolean>,
  ): Promise<Record<string, unknown> | null> {
    const original = JSON.parse(this.#original) as Record<string, unknown>;
    let expected = original;
    let data = this.#data;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await write(data, expected)) return data;
      const fresh = await this.#runtime.store.load(this.#token!, now);
      if (!fresh) return null;
      expected = fresh.data;
      data = this.#ownChangesOn(original, fresh.data);
    }
    return null;
  }

  /** `base` with the keys this request set or deleted (relative to `original`) applied. */
  #ownChangesOn(
    original: Record<string, unknown>,
    base: Record<string, unknown>,
  ): Record<string, unknown> {
    let result = base;
    for (const key of new Set([...Object.keys(original), ...Object.keys(this.#data)])) {
      const mine = Object.hasOwn(this.#data, key);
      if (mine && JSON.stringify(this.#data[key]) === JSON.stringify(original[key])) continue;
      if (!mine && !Object.hasOwn(original, key)) continue;
      // Spread and rest, not assignment: a key may be `__proto__`.
      if (mine) result = { ...result, [key]: this.#data[key] };
      else {
        const { [key]: _removed, ...rest } = result;
        result = rest;
      }
    }
    return result;
  }

  async #create(now: number): Promise<string> {
    const token = randomBytes(32).toString("base64url");
    await this.#runtime.store.create(token, { data: this.#data, ...this.#times(now, now) });
    this.#token = token;
    const maxAge = this.#runtime.settings.sessionAbsoluteSeconds;
    return setCookieLine(this.#cookieName(), token, { maxAge, secure: this.#secure });
  }

  #expire(): string {
    return setCookieLine(this.#cookieName(), "", { maxAge: 0, secure: this.#secure });
  }

  /** A session ends after `idle` without activity, and `absolute` after it began, whichever first. */
  #times(createdAt: number, now: number) {
    const { sessionIdleSeconds, sessionAbsoluteSeconds } = this.#runtime.settings;
    const expiresAt = Math.min(
      now + sessionIdleSeconds * 1000,
      createdAt + sessionAbsoluteSeconds * 1000,
    );
    return { createdAt, lastSeenAt: now, expiresAt };
  }

  /**
   * Activity is recorded at most every 1% of the idle timeout (capped at an hour): a busy
   * session costs one write now and then, not one per request, and idle expiry is late by at
   * most that much.
   */
  #touchInterval(): number {
    return Math.min((this.#runtime.settings.sessionIdleSeconds * 1000) / 100, 3_600_000);
  }

  #cookieName(): string {
    return sessionCookieName(this.#runtime.settings);
  }
}
