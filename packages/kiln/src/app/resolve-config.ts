import { KilnError } from "../errors.ts";
import type { PostgresSettings, SqliteSettings } from "../tables/dialects/settings.ts";
import { bodyLimitBytes } from "./config.ts";

/** An environment: variable name → value (`process.env`, or a record a test makes). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * What an app is given: kiln.yaml's foundation keys (already checked by config.ts, which names
 * the file and line of a mistake) and the createApp options and CLI flags that concern one
 * deployment. Each option wins over its environment variable.
 */
export interface ConfigInput {
  name?: string;
  api?: { prefix?: string };
  settings?: { bodyLimit?: number | string; trustProxy?: boolean };
  /** createApp's `trustProxy`, over `settings.trustProxy`. */
  trustProxy?: boolean;
  /** The app folder (for the default data folder `DIR/.kiln`). */
  dir?: string;
  dataDir?: string;
  databaseUrl?: string;
  secret?: string;
  /** `--port`; the default port of `listen()`. */
  port?: number;
  logger?: { level?: string; pretty?: boolean } | false;
  /** The environment to read; default the process's (the only place Kiln reads it). */
  env?: Env;
}

/**
 * Everything an app's deployment decides, resolved once from the createApp options (and CLI
 * flags) and the environment, checked, and frozen: the app, the database dialects, the
 * logger, the cookies service and the CLI receive it and never read the environment
 * themselves. docs/configuration.md lists every variable (a test keeps it in step).
 */
export interface ResolvedConfig {
  /** kiln.yaml `name`, default `kiln-app`. */
  readonly name: string;
  /** kiln.yaml `api.prefix`, default `/_/api`. */
  readonly prefix: string;
  /** kiln.yaml `settings.bodyLimit` in bytes; null: the server's default. */
  readonly bodyLimit: number | null;
  /** Believe `X-Forwarded-*` (createApp's `trustProxy`, else kiln.yaml `settings.trustProxy`). */
  readonly trustProxy: boolean;
  /** Where the SQLite database and secret key live (`KILN_DATA`, else `DIR/.kiln`); null: none. */
  readonly dataDir: string | null;
  /** `DATABASE_URL`: a `postgres://` URL selects PostgreSQL; null: SQLite. */
  readonly databaseUrl: string | null;
  /** `KILN_SECRET`; null: the key file in the data folder. */
  readonly secret: string | null;
  /** `PORT`, default 3000. */
  readonly port: number;
  readonly log: {
    /** `LOG_LEVEL`, default `info`. */
    readonly level: string;
    /** Human-readable lines (`kiln dev` sets `KILN_LOG_PRETTY=1` for its child). */
    readonly pretty: boolean;
    /** False when `NO_COLOR` is set (to anything). */
    readonly colour: boolean;
  };
  /** `KILN_SQLITE_SYNCHRONOUS`. */
  readonly sqlite: SqliteSettings;
  /** `KILN_PG_POOL_SIZE`, `KILN_PG_CONNECT_TIMEOUT_MS`, and `USER` (libpq's default role). */
  readonly postgres: PostgresSettings;
  /** `KILN_PREVIOUS_SECRETS` and `KILN_SHARED_SECRET`, comma-separated lists. */
  readonly cookies: {
    readonly previousSecrets: readonly string[];
    readonly sharedSecrets: readonly string[];
  };
  /** `KILN_DEV_CHILD=1`: this `kiln start` is the child that `kiln dev` supervises. */
  readonly devChild: boolean;
}

/** pino's levels: anything else is refused rather than crash the logger. */
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/**
 * Resolves an app's deployment settings. A bad environment variable is a KILN_BAD_CONFIG
 * naming it (kiln.yaml's own mistakes are named by file and line in config.ts).
 * @example const config = resolveConfig({ dir: "/srv/api", env: { PORT: "8080" } });
 */
export function resolveConfig(input: ConfigInput = {}): ResolvedConfig {
  const env = input.env ?? process.env;
  const logger = input.logger === false ? {} : (input.logger ?? {});
  const level = logger.level ?? nonEmpty(env.LOG_LEVEL) ?? "info";
  if (!LOG_LEVELS.includes(level)) {
    throw new KilnError(
      "KILN_BAD_CONFIG",
      `${logger.level === undefined ? "LOG_LEVEL" : "logger.level"} must be one of ${LOG_LEVELS.join(", ")}, got "${level}"`,
    );
  }
  const bodyLimit = input.settings?.bodyLimit;
  return deepFreeze({
    name: input.name ?? "kiln-app",
    prefix: input.api?.prefix ?? "/_/api",
    bodyLimit: bodyLimit === undefined || bodyLimit === null ? null : bodyLimitBytes(bodyLimit),
    trustProxy: input.trustProxy ?? input.settings?.trustProxy ?? false,
    dataDir: input.dataDir ?? nonEmpty(env.KILN_DATA) ?? (input.dir ? `${input.dir}/.kiln` : null),
    databaseUrl: input.databaseUrl ?? nonEmpty(env.DATABASE_URL) ?? null,
    secret: input.secret ?? nonEmpty(env.KILN_SECRET) ?? null,
    port: input.port ?? wholeNumber("PORT", env.PORT, 3000, null, 0, 65_535),
    log: {
      level,
      pretty: logger.pretty ?? env.KILN_LOG_PRETTY === "1",
      colour: !env.NO_COLOR,
    },
    sqlite: { synchronous: synchronous(env.KILN_SQLITE_SYNCHRONOUS) },
    postgres: {
      poolSize: wholeNumber(
        "KILN_PG_POOL_SIZE",
        env.KILN_PG_POOL_SIZE,
        10,
        "connections",
        1,
        10_000,
      ),
      connectTimeoutMs: wholeNumber(
        "KILN_PG_CONNECT_TIMEOUT_MS",
        env.KILN_PG_CONNECT_TIMEOUT_MS,
        10_000,
        "milliseconds",
      ),
      defaultUser: nonEmpty(env.USER) ?? "postgres",
    },
    cookies: {
      previousSecrets: list(env.KILN_PREVIOUS_SECRETS),
      sharedSecrets: list(env.KILN_SHARED_SECRET),
    },
    devChild: env.KILN_DEV_CHILD === "1",
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/**
 * `synchronous` decides what a returned write promises: FULL (the default) survives a power
 * cut, NORMAL only a process crash, but is about ten times faster on a disk with slow fsync.
 */
function synchronous(raw: string | undefined): "FULL" | "NORMAL" {
  const value = nonEmpty(raw)?.toUpperCase() ?? "FULL";
  if (value === "FULL" || value === "NORMAL") return value;
  throw new KilnError(
    "KILN_BAD_CONFIG",
    `KILN_SQLITE_SYNCHRONOUS must be "full" or "normal", got "${raw}"`,
  );
}

/** The whole number from `min` up to `max` that variable `name` holds; unset or empty: `fallback`. */
function wholeNumber(
  name: string,
  raw: string | undefined,
  fallback: number,
  /** What the number counts; null: a port number. */
  unit: string | null,
  min = 1,
  max = Number.POSITIVE_INFINITY,
): number {
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.POSITIVE_INFINITY ? `from ${min} up` : `from ${min} to ${max}`;
    throw new KilnError(
      "KILN_BAD_CONFIG",
      `${name} must be ${unit === null ? "a port number" : `a whole number of ${unit}`} ${range}, got "${raw}"`,
    );
  }
  return value;
}

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
