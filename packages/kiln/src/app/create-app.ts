import cluster from "node:cluster";
import type { DestinationStream, Logger } from "pino";
import { cookiesService } from "../cookies/cookies-service.ts";
import { KilnError } from "../errors.ts";
import { maybeContext } from "../http/context.ts";
import { defineEndpoint, type EndpointDefinition } from "../http/endpoint.ts";
import type { StartHook } from "../http/global-state.ts";
import { plainHttpWarning } from "../http/loopback.ts";
import {
  buildServer,
  DEFAULT_LIMITS,
  type HttpServer,
  type InjectOptions,
  type LightMyRequestResponse,
  type ServerLimits,
} from "../http/server.ts";
import { TableError } from "../tables/errors.ts";
import { type TablesService, tablesProxy, tablesService } from "../tables/service.ts";
import type { TablesAccessor } from "../tables/types.ts";
import { makeUsers, type Users } from "../users/users.ts";
import { type UsersService, usersService } from "../users/users-service.ts";
import { builtInTables } from "./built-in-tables.ts";
import type { KilnYaml } from "./config.ts";
import { checkEndpointDefaults, type EndpointDefaults, withDefaults } from "./endpoint-defaults.ts";
import { handlerContextFactory } from "./handler-context.ts";
import type { RegisterEndpoint } from "./http-endpoint.ts";
import { createLogger, type LoggerOptions } from "./logger.ts";
import { checkedHook, runStartHooks } from "./on-start.ts";
import type { ViewsScan } from "./request-views-scan.ts";
import { type Env, type ResolvedConfig, resolveConfig } from "./resolve-config.ts";
import { loadSecret } from "./secret.ts";
import type { AppServices, KilnService } from "./service.ts";

/** What `createApp` takes: the shape of kiln.yaml plus what differs per deployment. */
export interface AppConfig extends Partial<Omit<KilnYaml, "endpoints">> {
  /** Options every endpoint gets unless it sets its own (kiln.yaml `endpoints:`). */
  endpoints?: EndpointDefaults;
  /** The app folder (for the default data folder `DIR/.kiln`). */
  dir?: string;
  /** Where the SQLite database and secret key live; default `KILN_DATA` or `DIR/.kiln`. */
  dataDir?: string;
  /** Default `DATABASE_URL`; a `postgres://` URL selects PostgreSQL. */
  databaseUrl?: string;
  /** Default `KILN_SECRET`, else the key file in the data folder. */
  secret?: string;
  /** The default port of `listen()`; default `PORT`, else 3000. */
  port?: number;
  /**
   * The environment the app's deployment settings are read from (see resolve-config.ts);
   * default the process's. Tests pass a record to try a variable without touching the process.
   */
  env?: Env;
  logger?: LoggerOptions | false;
  limits?: Partial<ServerLimits>;
  trustProxy?: boolean;
  /**
   * Answer only requests whose `Host` names loopback or this host (421 otherwise), against
   * DNS rebinding; `kiln dev` sets it to the host it serves.
   */
  onlyHost?: string;
  /**
   * Whether the app's code may use the importable `request`, `session`, `cookies`, `users`,
   * `tables` or `inTransaction`, which find the request being handled (or the app running its
   * `onStart` functions) through AsyncLocalStorage. Default true. `false` runs every request
   * without entering AsyncLocalStorage, which on Node.js 20 and 22 spares the whole process
   * the async hooks it turns on (about a tenth of a small request's CPU): handlers then get
   * everything through their context, and those imports throw KILN_NO_REQUEST (and `app.users`
   * does not know the request: a handler uses `ctx.users`). Unset, it is
   * true, except for an app folder whose modules import none of them (see `requestViews`).
   */
  requestViews?: boolean;
}

/** An app: its endpoints, services and HTTP server. See `createApp`. */
export class KilnApp {
  readonly name: string;
  readonly config: AppConfig;
  /** The deployment's settings, resolved once from this config and the environment. */
  readonly settings: ResolvedConfig;
  readonly log: Logger;
  readonly dataDir: string | null;
  readonly databaseUrl: string | null;
  readonly secret: string;
  readonly prefix: string;
  readonly limits: ServerLimits;
  readonly #defaults: EndpointDefaults;
  readonly #endpoints: EndpointDefinition[] = [];
  readonly #startHooks: StartHook[] = [];
  #services: { -readonly [K in keyof AppServices]: AppServices[K] } = {};
  /** Where `log` writes, for the request lines (see requestLine). */
  readonly #logDestination: DestinationStream | undefined;
  #server: HttpServer | null = null;
  #starting: Promise<void> | null = null;

  constructor(config: AppConfig) {
    this.config = config;
    this.settings = resolveConfig(config);
    this.name = this.settings.name;
    const logger = createLogger(config.logger, this.settings.log);
    this.log = logger.log;
    this.#logDestination = logger.destination;
    this.dataDir = this.settings.dataDir;
    this.databaseUrl = this.settings.databaseUrl;
    this.secret = loadSecret(this.dataDir, this.settings.secret ?? undefined);
    this.prefix = this.settings.prefix;
    this.limits = { ...DEFAULT_LIMITS, ...config.limits };
    this.#defaults = checkEndpointDefaults(config.endpoints);
    if (this.settings.bodyLimit !== null) this.limits.bodySize = this.settings.bodyLimit;
  }

  /**
   * This app's data tables, for scripts and tests (the same API as the importable `tables`,
   * which works only inside a request or `onStart`). Usable once `await app.ready()` is done.
   * @example await app.tables.notes.addRow({ text: "from a script" });
   */
  readonly tables: TablesAccessor = tablesProxy((name) => this.tablesService.table(name));

  /**
   * This app's users (the API of the importable `users`). What works on a request (login,
   * logout, getUser) throws KILN_NO_REQUEST outside one; addUser, checkPassword,
   * getUserByEmail, tokens work anywhere. Starts the app if it is not ready.
   * @example const ada = await app.users.addUser("ada@example.com", "correct horse");
   */
  readonly users: Users = makeUsers(() => this.usersService(), maybeContext);

  /** Registers an endpoint on this app (same arguments as the top-level `httpEndpoint`). */
  httpEndpoint: RegisterEndpoint = (path: string, a: unknown, b?: unknown) => {
    if (this.#starting) {
      throw new KilnError("KILN_BAD_ENDPOINT", `Endpoint ${path} registered after the app started`);
    }
    this.#endpoints.push(defineEndpoint(path, a, b));
    this.#registeredInCode = true;
  };

  /** What loadApp read in the app's modules (see request-views-scan.ts); null: not read. */
  #viewsScan: ViewsScan | null = null;
  /** An endpoint or start hook came from code the scan did not read (`app.httpEndpoint`). */
  #registeredInCode = false;

  /** @internal loadApp hands over what it read in the app folder's modules. */
  setViewsScan(scan: ViewsScan): void {
    this.#viewsScan = scan;
  }

  /**
   * Whether this app's requests run inside AsyncLocalStorage, where the importable `request`,
   * `session`, `cookies`, `users`, `tables` and `inTransaction` find them: `requestViews` of
   * the config if given; else false only for an app folder whose modules import none of them
   * (loadApp reads them) and that got no endpoint or start hook from other code since.
   */
  get requestViews(): boolean {
    if (this.config.requestViews !== undefined) return this.config.requestViews;
    // Functions among the endpoint defaults (a requireAuth check) came from code it did not read.
    const unread = this.#registeredInCode || holdsFunction(this.config.endpoints);
    return this.#viewsScan?.uses !== false || unread;
  }

  /**
   * Runs `fn` when this app starts, after its tables are ready and before it serves (see the
   * top-level `onStart`).
   * @example app.onStart(() => tables.tags.addRows([{ name: "home" }, { name: "work" }]));
   */
  onStart(fn: () => unknown): void {
    if (this.#starting) {
      throw new KilnError("KILN_START_FAILED", "onStart called after the app started");
    }
    this.#startHooks.push(checkedHook(fn));
    this.#registeredInCode = true;
  }

  /** @internal used by loadApp and createApp to hand over collected start hooks. */
  addStartHooks(hooks: readonly StartHook[]): void {
    this.#startHooks.push(...hooks);
  }

  /** @internal used by loadApp and createApp to hand over collected endpoints. */
  addEndpoints(endpoints: readonly EndpointDefinition[]): void {
    this.#endpoints.push(...endpoints);
  }

  get endpoints(): readonly EndpointDefinition[] {
    return this.#endpoints;
  }

  /** The started services (`app.services.tables`, ...), each typed; empty before `ready()`. */
  get services(): AppServices {
    return this.#services;
  }

  /** The tables service; KILN_NOT_READY before `ready()` has opened the database. */
  get tablesService(): TablesService {
    const found = this.#services.tables;
    if (found) return found;
    throw new TableError(
      "KILN_NOT_READY",
      `The data tables of app "${this.name}" are not open yet: \`await app.ready()\` first (kiln start and app.inject do it for you)`,
    );
  }

  /** The Users service, once the app is ready (started here if need be). */
  async usersService(): Promise<UsersService> {
    await this.ready();
    const users = this.#services.users;
    if (!users) {
      throw new KilnError("KILN_NO_APP", `The app "${this.name}" has no Users service running`);
    }
    return users;
  }

  /**
   * Runs fn atomically on this app's database (see the importable `inTransaction`).
   * @example await app.inTransaction(async () => { await app.tables.a.addRow({}); });
   */
  inTransaction<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.tablesService.inTransaction(fn);
  }

  /** Opens the database, migrates it, starts the services and builds the server. Idempotent. */
  ready(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    // In start order: later services use earlier ones (users need tables; sessions need the
    // database), and pipeline features run in this order too (session/XSRF → users).
    this.#services.tables = await tablesService(this, builtInTables);
    this.#services.cookies = await cookiesService(this);
    this.#services.users = (await usersService(this)) ?? undefined;
    const requestViews = this.requestViews;
    this.log.debug(
      requestViews
        ? `Requests run inside AsyncLocalStorage (for the importable request views${this.#viewsScan?.reason ? `: ${this.#viewsScan.reason}` : ""})`
        : this.config.requestViews === false
          ? "requestViews is false: requests run without AsyncLocalStorage"
          : "No module imports request, session, cookies, users, tables or inTransaction from kilnjs: requests run without AsyncLocalStorage",
    );
    await runStartHooks(this, this.#startHooks, requestViews);
    const services = this.#startedServices();
    this.#server = buildServer({
      app: this,
      context: handlerContextFactory(this),
      requestViews,
      prefix: this.prefix,
      endpoints: withDefaults(this.#endpoints, this.#defaults),
      features: services.flatMap((s) => s.features ?? []),
      health: async () => {
        for (const s of services) if (s.healthy && !(await s.healthy())) return false;
        return true;
      },
      limits: this.limits,
      log: this.log,
      logDestination: this.#logDestination,
      trustProxy: this.settings.trustProxy,
      onlyHost: this.config.onlyHost,
    });
    await this.#server.ready();
  }

  #startedServices(): KilnService[] {
    const { tables, cookies, users } = this.#services;
    return [tables, cookies, users].filter((s): s is NonNullable<typeof s> => s !== undefined);
  }

  /** The Fastify instance (after `ready()`), for what Kiln does not cover. */
  get server(): HttpServer {
    if (!this.#server) throw new KilnError("KILN_NO_APP", "Call `await app.ready()` first");
    return this.#server;
  }

  /**
   * Starts serving; resolves to the URL. Port 0 picks a free port.
   * @example const url = await app.listen({ port: 3000 });
   */
  async listen(options: { port?: number; host?: string } = {}): Promise<string> {
    await this.ready();
    const port = options.port ?? this.settings.port;
    const host = options.host ?? "127.0.0.1";
    await this.server.listen({ port, host });
    const warning = plainHttpWarning(host, this.settings.trustProxy);
    // Once per app, not once per --workers process: only the first worker says it.
    if (warning && (!cluster.isWorker || cluster.worker?.id === 1)) this.log.warn(warning);
    const address = this.server.server.address();
    const actualPort = typeof address === "object" && address ? address.port : port;
    const shownHost = host.includes(":") ? `[${host}]` : host;
    return `http://${shownHost === "0.0.0.0" ? "localhost" : shownHost}:${actualPort}`;
  }

  /**
   * Sends a request straight into the app, without a socket: for tests.
   * @example const res = await app.inject({ method: "GET", url: "/_/api/hello" });
   */
  async inject(options: InjectOptions | string): Promise<LightMyRequestResponse> {
    await this.ready();
    return this.server.inject(options);
  }

  /** Stops accepting requests, lets in-flight ones finish, then closes the services. */
  async close(): Promise<void> {
    if (this.#starting) await this.#starting.catch(() => undefined);
    if (this.#server) await this.#server.close();
    for (const service of this.#startedServices().reverse()) await service.close?.();
    this.#services = {};
    this.log.flush?.();
  }
}

/**
 * Creates an app programmatically; its endpoints are added with `app.httpEndpoint` (the
 * top-level `httpEndpoint` is for server modules, which `loadApp` imports), and scripts and
 * tests reach its data as `app.tables` and `app.users`.
 * @example
 * const app = createApp({ name: "todo", tables: { tasks: { title: "text" } } });
 * app.httpEndpoint("/hello", () => ({ "the answer is": 42 }));
 * await app.listen({ port: 3000 });
 */
export function createApp(config: AppConfig = {}): KilnApp {
  return new KilnApp(config);
}

/** Whether a value (an options object, a few levels deep) holds a function. */
function holdsFunction(value: unknown, depth = 4): boolean {
  if (typeof value === "function") return true;
  if (depth === 0 || typeof value !== "object" || value === null) return false;
  return Object.values(value).some((item) => holdsFunction(item, depth - 1));
}
