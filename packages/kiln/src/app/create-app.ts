import cluster from "node:cluster";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import type { Logger } from "pino";
import { KilnError } from "../errors.ts";
import { defineEndpoint, type EndpointDefinition } from "../http/endpoint.ts";
import { plainHttpWarning } from "../http/loopback.ts";
import { buildServer, DEFAULT_LIMITS, type ServerLimits } from "../http/server.ts";
import { globalState, type StartHook } from "../runtime/global-state.ts";
import type { KilnYaml } from "./config.ts";
import { checkEndpointDefaults, type EndpointDefaults, withDefaults } from "./endpoint-defaults.ts";
import { createLogger, type LoggerOptions } from "./logger.ts";
import { checkedHook, runStartHooks } from "./on-start.ts";
import { type Env, type ResolvedConfig, resolveConfig } from "./resolve-config.ts";
import { loadSecret } from "./secret.ts";
import type { KilnService } from "./service.ts";
import { builtInServices } from "./services.ts";

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
  readonly #services = new Map<string, KilnService>();
  #server: FastifyInstance | null = null;
  #starting: Promise<void> | null = null;

  constructor(config: AppConfig) {
    this.config = config;
    this.settings = resolveConfig(config);
    this.name = this.settings.name;
    this.log = createLogger(config.logger, this.settings.log);
    this.dataDir = this.settings.dataDir;
    this.databaseUrl = this.settings.databaseUrl;
    this.secret = loadSecret(this.dataDir, this.settings.secret ?? undefined);
    this.prefix = this.settings.prefix;
    this.limits = { ...DEFAULT_LIMITS, ...config.limits };
    this.#defaults = checkEndpointDefaults(config.endpoints);
    if (this.settings.bodyLimit !== null) this.limits.bodySize = this.settings.bodyLimit;
  }

  /** Registers an endpoint on this app (same arguments as the top-level `httpEndpoint`). */
  httpEndpoint: typeof import("../http/endpoint.ts").httpEndpoint = (
    path: string,
    a: unknown,
    b?: unknown,
  ) => {
    if (this.#starting) {
      throw new KilnError("KILN_BAD_ENDPOINT", `Endpoint ${path} registered after the app started`);
    }
    this.#endpoints.push(defineEndpoint(path, a, b));
  };

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

  /** A started service by name (`tables`, `users`, ...), or undefined. */
  service<T extends KilnService>(name: string): T | undefined {
    return this.#services.get(name) as T | undefined;
  }

  /** Opens the database, migrates it, starts the services and builds the server. Idempotent. */
  ready(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    for (const factory of builtInServices) {
      const service = await factory(this);
      if (service) this.#services.set(service.name, service);
    }
    await runStartHooks(this, this.#startHooks);
    const services = [...this.#services.values()];
    this.#server = buildServer({
      app: this,
      prefix: this.prefix,
      endpoints: withDefaults(this.#endpoints, this.#defaults),
      features: services.flatMap((s) => s.features ?? []),
      extendRoutes: (server, endpoints) => {
        for (const s of services) s.extendRoutes?.(server, endpoints);
      },
      health: async () => {
        for (const s of services) if (s.healthy && !(await s.healthy())) return false;
        return true;
      },
      limits: this.limits,
      log: this.log,
      trustProxy: this.settings.trustProxy,
      onlyHost: this.config.onlyHost,
    });
    await this.#server.ready();
  }

  /** The Fastify instance (after `ready()`), for what Kiln does not cover. */
  get server(): FastifyInstance {
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
    for (const service of [...this.#services.values()].reverse()) await service.close?.();
    this.#services.clear();
    if (globalState.currentApp === this) globalState.currentApp = undefined;
    this.log.flush?.();
  }
}

/**
 * Creates an app programmatically. Endpoints registered with the top-level `httpEndpoint`
 * before this call join it; more can be added with `app.httpEndpoint`.
 * @example
 * const app = createApp({ name: "todo", tables: { tasks: { title: "text" } } });
 * app.httpEndpoint("/hello", () => ({ "the answer is": 42 }));
 * await app.listen({ port: 3000 });
 */
export function createApp(config: AppConfig = {}): KilnApp {
  const app = new KilnApp(config);
  app.addEndpoints(globalState.pending.splice(0));
  app.addStartHooks(globalState.pendingStartHooks.splice(0));
  globalState.currentApp = app;
  return app;
}
