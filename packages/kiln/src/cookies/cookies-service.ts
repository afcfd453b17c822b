import type { FastifyInstance } from "fastify";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { KilnError } from "../errors.ts";
import type { RequestContext } from "../http/context.ts";
import { corsFeature, registerPreflights } from "../http/cors.ts";
import type { EndpointDefinition } from "../http/endpoint.ts";
import type { PipelineFeature, Stage } from "../http/pipeline.ts";
import type { KilnService } from "../http/service.ts";
import type { SystemMigration } from "../tables/system-migrations.ts";
import { mayHaveCookie } from "./cookie-header.ts";
import { type CookiesAppInfo, readCookiesSettings } from "./cookies-config.ts";
import { type CookiesRuntime, sessionCookieName } from "./cookies-runtime.ts";
import { deriveKeyring } from "./crypto.ts";
import { existingState, requestState } from "./request-state.ts";
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
 * process shares it), and contributes two pipeline features, in this order: `cors`, then
 * `session` (XSRF verdict, session load before the handler; session saved, Set-Cookie and
 * security headers after it).
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
    features: [corsFeature, sessionFeature(sessionCookieName(settings))],
    extendRoutes(server: FastifyInstance, endpoints: readonly EndpointDefinition[]) {
      registerPreflights(server, endpoints, app.prefix);
    },
    cleanupSessions,
    async close() {
      clearInterval(timer);
    },
  };
  return service;
};

/**
 * The session/XSRF/cookies feature. Before the handler it loads the session only when the
 * request carries a session cookie and is not cross-site: `session.get` is synchronous, so
 * the row must be read before the handler runs, and a request without the cookie (an API
 * client, curl) pays nothing. After the handler it saves the session, writes Set-Cookie
 * headers and adds the security headers.
 */
function sessionFeature(cookieName: string): PipelineFeature {
  // Not async: a request without the cookie returns at once and keeps the pipeline on its
  // synchronous path, which no promise slows down (see Stage in http/pipeline.ts).
  const loadSession: Stage = (ctx) => {
    const header = ctx.raw.headers.cookie;
    if (!mayHaveCookie(header, cookieName)) return;
    const state = requestState(ctx);
    if (!state.isolated) return state.session.load(header);
  };
  return {
    name: "session",
    beforeHandler: () => loadSession,
    afterHandler: () => (ctx) => saveSessionAndCookies(ctx, cookieName),
  };
}

/** Not async either: only a request that used its session waits (to save it). */
function saveSessionAndCookies(ctx: RequestContext, cookieName: string): void | Promise<void> {
  const session = existingState(ctx)?.madeSession;
  if (!session) return writeCookies(ctx, cookieName, false, null);
  const active = session.active; // before flush, which may start a session
  return session.flush().then((line) => writeCookies(ctx, cookieName, active, line));
}

function writeCookies(
  ctx: RequestContext,
  cookieName: string,
  sessionActive: boolean,
  sessionLine: string | null,
): void {
  const state = existingState(ctx);
  const lines: string[] = [];
  const carriesSession =
    (ctx.user !== null && ctx.user !== undefined) ||
    mayHaveCookie(ctx.raw.headers.cookie, cookieName) ||
    sessionActive;
  if (sessionLine) lines.push(sessionLine);
  if (state?.madeJar) lines.push(...state.madeJar.setCookieLines());
  if (lines.length > 0) appendSetCookie(ctx, lines);
  if (carriesSession || lines.length > 0) {
    // A personal answer must not be kept by a shared cache, nor sniffed into another type.
    ctx.responseHeaders["cache-control"] = "no-store";
    ctx.responseHeaders["x-content-type-options"] = "nosniff";
  }
}

function appendSetCookie(ctx: RequestContext, lines: string[]): void {
  const existing = ctx.responseHeaders["set-cookie"];
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
  ctx.responseHeaders["set-cookie"] = [...list, ...lines];
}
