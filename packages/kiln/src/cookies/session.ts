import { currentContext, type RequestContext } from "../http/context.ts";
import { requestState } from "./request-state.ts";

/** The session of the request being handled. See `session`. */
export interface Session {
  /** The value under `key` (a copy), or undefined. */
  get<T = unknown>(key: string): T | undefined;
  has(key: string): boolean;
  keys(): string[];
  /** Stores a JSON-serialisable value; `undefined` deletes the key. */
  set(key: string, value: unknown): void;
  delete(key: string): void;
  /** Empties the session; an empty session is deleted and its cookie expired (logout). */
  clear(): void;
  /**
   * Moves the session to a new id, keeping its data: call it when privileges change (login),
   * so an id an attacker planted or saw before is worthless afterwards.
   */
  regenerate(): void;
}

/**
 * The session of the request `resolve` gives, at each call: the importable `session` resolves
 * the request being handled, a handler's `ctx.session` its own request.
 */
export function sessionOf(resolve: () => RequestContext): Session {
  const current = () => requestState(resolve()).session;
  return {
    get: <T>(key: string) => current().get(key) as T | undefined,
    has: (key) => current().has(key),
    keys: () => current().keys(),
    set: (key, value) => current().set(key, value),
    delete: (key) => current().delete(key),
    clear: () => current().clear(),
    regenerate: () => current().regenerate(),
  };
}

/**
 * Server-side key/value data tied to an opaque, HttpOnly, SameSite=Lax session cookie, stored
 * in the app database so every process sees it. Synchronous inside a handler; saved when the
 * response is sent, and only if it changed (a request that never sets anything creates no
 * session). Sessions end after `services.sessions.idleDays` (14) without use, and
 * `absoluteDays` (30) after they began. A cross-site request (see XSRF) gets a fresh, empty
 * session that is never saved.
 * @example
 * httpEndpoint("/visits", () => {
 *   const visits = (session.get<number>("visits") ?? 0) + 1;
 *   session.set("visits", visits);
 *   return { visits };
 * });
 */
export const session: Session = sessionOf(currentContext);
