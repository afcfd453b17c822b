import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { KilnError } from "../errors.ts";
import type { RequestContext } from "../http/context.ts";
import type { PipelineFeature, Stage } from "../http/pipeline.ts";
import type { KilnService } from "../http/service.ts";
import type { SystemMigration } from "../tables/system-migrations.ts";
import { mayHaveCookie } from "./cookie-header.ts";
import { type CookiesAppInfo, readCookiesSettings } from "./cookies-config.ts";
import { type CookiesRuntime, sessionCookieName } from "./cookies-runtime.ts";
import { deriveKeyring } from "./crypto.ts";
import { COOKIE_STATE, RequestCookieState } from "./request-state.ts";
import { KyselySessionStore, sessionsMigrations } from "./session-store.ts";

/** The cookies service: encrypted cookies, sessions, CORS and the XSRF rule. */
export interface CookiesService extends KilnService {
  readonly runtime: CookiesRuntime;
  /** Deletes expired sessions now (it also runs on start and every hour); returns how many. */
  cleanupSessions(): Promise<number>;
}

const CLEANUP_EVERY_MS = 60 * 60 * 1000;

/** What the cookies service needs of its app (the app object is one). */
export interface CookiesHost extends CookiesAppInfo {
  readonly prefix: string;
  readonly log: Logger;
  /** The tables service, started before this one: sessions live in the app database. */
  readonly services: {
    readonly tables?: {
      readonly systemDb: Kysely<unknown>;
      migrateSystem(migrations: readonly SystemMigration[]): Promise<string[]>;
    };
  };
}

/**
 * Starts the cookies service of an app: derives the cookie keys from the app secret (and the
 * shared secret), opens the session store in the app database (the tables service's, so every
 * process shares it), and contributes the `session` pipeline feature (session loaded before
 * the handler; session saved and Set-Cookie written after it).
 */
export const cookiesService = async (app: CookiesHost): Promise<CookiesService> => {
  const settings = readCookiesSettings(app);
  const tables = app.services.tables;
  if (!tables) {
    throw new KilnError("KILN_NO_APP", "The cookies service starts after the tables service");
  }
  await tables.migrateSystem(sessionsMigrations);
  const db = tables.systemDb;
  const store = new KyselySessionStore(db);
  const runtime: CookiesRuntime = {
    settings,
    localKeys: deriveKeyring(settings.localSecrets, "local"),
    sharedKeys:
      settings.sharedSecrets.length > 0 ? deriveKeyring(settings.sharedSecrets, "shared") : null,
    store,
    now: () => Date.now(),
    log: app.log,
  };
  const cleanupSessions = () => store.deleteExpired(runtime.now());
  await cleanupSessions();
  const timer = setInterval(() => {
    cleanupSessions().catch((error) => app.log.warn({ err: error }, "session cleanup failed"));
  }, CLEANUP_EVERY_MS);
  timer.unref();

  const service: CookiesService = {
    name: "cookies",
    runtime,
    features: [sessionFeature(runtime, sessionCookieName(settings))],
    cleanupSessions,
    async close() {
      clearInterval(timer);
    },
  };
  return service;
};

/**
 * The session/XSRF/cookies feature, two named stages:
 *
 * - "cookies.session", before the handler, produces the request's cookie state (COOKIE_STATE)
 *   when the request carries a session cookie, with its session loaded unless the request is
 *   cross-site: `session.get` is synchronous, so the row must be read before the handler runs.
 *   A request without the cookie (an API client, curl) produces nothing and pays nothing;
 *   the handler makes the state on first use of `cookies` or `session`.
 * - "cookies.save", after the handler, reads that state: it saves the session and writes the
 *   Set-Cookie headers, and says `Cache-Control: no-store` when a session is involved.
 */
function sessionFeature(runtime: CookiesRuntime, cookieName: string): PipelineFeature {
  // Not async: a request without the cookie returns at once and keeps the pipeline on its
  // synchronous path, which no promise slows down (see Stage in http/stages.ts).
  const loadSession: Stage<RequestCookieState | undefined> = {
    name: "cookies.session",
    output: COOKIE_STATE,
    run(ctx) {
      const header = ctx.headers.cookie;
      if (!mayHaveCookie(header, cookieName)) return undefined;
      const state = new RequestCookieState(ctx, runtime);
      if (state.isolated) return state;
      return state.session.load(header).then(() => state);
    },
  };
  const save: Stage<void> = {
    name: "cookies.save",
    needs: [COOKIE_STATE],
    run: (ctx) => saveSessionAndCookies(ctx, cookieName),
  };
  return { name: "session", beforeHandler: () => loadSession, afterHandler: () => save };
}

/** Not async either: only a request that used its session waits (to save it). */
function saveSessionAndCookies(ctx: RequestContext, cookieName: string): void | Promise<void> {
  const state = ctx.get(COOKIE_STATE);
  if (!state) return; // no cookie came, and the handler touched neither cookies nor session
  const session = state.madeSession;
  if (!session) return writeCookies(ctx, state, cookieName, false, null);
  const active = session.active; // before flush, which may start a session
  return session.flush().then((line) => writeCookies(ctx, state, cookieName, active, line));
}

function writeCookies(
  ctx: RequestContext,
  state: RequestCookieState,
  cookieName: string,
  sessionActive: boolean,
  sessionLine: string | null,
): void {
  const lines: string[] = [];
  if (sessionLine) lines.push(sessionLine);
  if (state.madeJar) lines.push(...state.madeJar.setCookieLines());
  if (lines.length > 0) appendSetCookie(ctx, lines);
  if (lines.length > 0 || sessionActive || mayHaveCookie(ctx.headers.cookie, cookieName)) {
    // A personal answer must not be kept by a shared cache (every answer says nosniff).
    ctx.responseHeaders["cache-control"] = "no-store";
  }
}

function appendSetCookie(ctx: RequestContext, lines: string[]): void {
  const existing = ctx.responseHeaders["set-cookie"];
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
  ctx.responseHeaders["set-cookie"] = [...list, ...lines];
}
