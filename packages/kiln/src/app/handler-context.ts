import type { Logger } from "pino";
import { type cookies, cookiesOf } from "../cookies/cookies.ts";
import { type Session, sessionOf } from "../cookies/session.ts";
import { type KilnRequest, type RequestContext, requestOf } from "../http/context.ts";
import type { KeywordParams, PathParams } from "../http/endpoint.ts";
import type { ContextFactory } from "../http/pipeline.ts";
import type { StandardSchemaV1 } from "../http/standard-schema.ts";
import type { TablesAccessor } from "../tables/types.ts";
import { requestUser } from "../users/request-user.ts";
import { makeUsers, type UserRow, type Users } from "../users/users.ts";
import type { KilnApp } from "./create-app.ts";

type Out<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : never;
type Schema = StandardSchemaV1 | undefined;

/** The URL parameters: typed by the `params` schema, else named by the path. */
export type UrlParams<Path extends string, Params extends Schema> = Params extends StandardSchemaV1
  ? Out<Params>
  : PathParams<Path>;

/** The keyword parameters (form + query + URL): typed by the `query` schema, else strings. */
export type QueryParams<Query extends Schema> = Query extends StandardSchemaV1
  ? Out<Query>
  : KeywordParams;

/** What a handler's first argument holds, given the path and the declared schemas. */
export type HandlerParams<
  Path extends string,
  Query extends Schema,
  Params extends Schema,
> = UrlParams<Path, Params> & QueryParams<Query>;

/**
 * A handler's second argument: the request's validated parts and everything it works with,
 * typed for its endpoint. One object per request whose fields past `body`, `query` and
 * `params` are read when used; `user` is a `UserRow` (never null) on `authenticateUsers`
 * endpoints, since the request got there only with one.
 * @example
 * httpEndpoint("/tasks/:id", { authenticateUsers: true }, (_, { params, user, tables }) =>
 *   tables.tasks.get({ id: params.id, owner: user }));
 */
export interface HandlerContext<
  Path extends string = string,
  Body extends Schema = undefined,
  Query extends Schema = undefined,
  Params extends Schema = undefined,
  Auth extends boolean | undefined = undefined,
> {
  /**
   * The JSON body, validated by the endpoint's `body` schema; `undefined` when the request has
   * no JSON body (a GET, a form post), so that `schema.optional()` accepts one without.
   */
  readonly body: Body extends StandardSchemaV1 ? Out<Body> : unknown;
  /** The keyword parameters (form, query, URL; later wins), validated by the `query` schema. */
  readonly query: QueryParams<Query>;
  /** The URL parameters (`/tasks/:id` gives `params.id`), validated by the `params` schema. */
  readonly params: UrlParams<Path, Params>;
  /** The request's user (`users.getUser()`): on `authenticateUsers` endpoints never null. */
  readonly user: Auth extends true ? UserRow : UserRow | null;
  /** The request: method, headers, form fields, files, raw body... */
  readonly request: KilnRequest;
  /** The app's data tables. */
  readonly tables: TablesAccessor;
  /** The app's users: login, logout, tokens, accounts. */
  readonly users: Users;
  /** The request's session. */
  readonly session: Session;
  /** The request's encrypted cookies. */
  readonly cookies: typeof cookies;
  /** The app serving the request. */
  readonly app: KilnApp;
  /** The app's logger. */
  readonly log: Logger;
}

/**
 * The handler context of one request. Only the parts that differ per request are stored (the
 * request, and the validated parts the pipeline already has); the rest are getters, so that
 * a handler that reads nothing costs one small object.
 *
 * `request`, `session`, `cookies` and `users` are bound to this context's own request, not
 * looked up through AsyncLocalStorage as the importable views are: they keep working wherever
 * the handler's code runs (past any await, in a callback, a timer), and an app that uses only
 * the context needs no AsyncLocalStorage at all. Each is made on first read and kept.
 */
class RequestHandlerContext {
  readonly #app: KilnApp;
  readonly #ctx: RequestContext;
  #request: KilnRequest | undefined;
  #session: Session | undefined;
  #cookies: typeof cookies | undefined;
  #users: Users | undefined;
  readonly body: unknown;
  readonly query: unknown;
  readonly params: unknown;

  constructor(app: KilnApp, ctx: RequestContext, body: unknown, query: unknown, params: unknown) {
    this.#app = app;
    this.#ctx = ctx;
    this.body = body;
    this.query = query;
    this.params = params;
  }

  get user(): UserRow | null {
    return (requestUser(this.#ctx) as UserRow | null | undefined) ?? null;
  }
  get request(): KilnRequest {
    this.#request ??= requestOf(this.#own());
    return this.#request;
  }
  get tables(): TablesAccessor {
    return this.#app.tables;
  }
  get users(): Users {
    const app = this.#app;
    // The service as `app.users` finds it; the request is this one, never an ambient lookup.
    this.#users ??= makeUsers(() => app.usersService(), this.#own());
    return this.#users;
  }
  get session(): Session {
    this.#session ??= sessionOf(this.#own());
    return this.#session;
  }
  get cookies(): typeof cookies {
    this.#cookies ??= cookiesOf(this.#own());
    return this.#cookies;
  }
  get app(): KilnApp {
    return this.#app;
  }
  get log(): Logger {
    return this.#app.log;
  }

  /**
   * A resolver of this context's request, for the bound views: made when one is (not a field
   * made with every context, which a handler that reads none of them would pay for).
   */
  #own(): () => RequestContext {
    const ctx = this.#ctx;
    return () => ctx;
  }
}

/** The context factory of `app`'s endpoints (see PipelineOptions.context). */
export function handlerContextFactory(app: KilnApp): ContextFactory {
  return (ctx, body, query, params) => new RequestHandlerContext(app, ctx, body, query, params);
}
