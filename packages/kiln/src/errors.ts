/**
 * Kiln's one error family: every error Kiln raises on purpose is a KilnError whose `code` is a
 * key of `errorCatalogue` (below), which gives the HTTP status it answers when it escapes an
 * endpoint and a one-line description. docs/errors.md has a row per code with the same status
 * and description; a test keeps the two in step.
 */

/** Options every KilnError takes. */
export interface KilnErrorOptions {
  cause?: unknown;
  /**
   * This one error's answer, instead of the catalogue's status: only where the code's
   * description says a case is answered otherwise (a client's bad `limit` is a KILN_BAD_QUERY,
   * 400, while the code's own bad query is a 500).
   */
  status?: number;
}

const KILN_ERROR = Symbol.for("kiln.KilnError");

/**
 * Base class of every error Kiln raises on purpose. Switch on `code` (a KilnErrorCode, so a
 * misspelt code is a type error); `status` is what an endpoint answers when it escapes it.
 */
export class KilnError extends Error {
  readonly code: KilnErrorCode;
  /**
   * The HTTP status when thrown inside an endpoint: a 4xx (the client's to fix) answers the
   * message; a 5xx (a mistake in the code, an outage) answers only an id and logs the error.
   */
  readonly status: number;
  /** Fields added to a 4xx answer's JSON body, next to `error` (TooManyAttempts' `retryAfter`). */
  readonly details?: Readonly<Record<string, unknown>>;
  readonly [KILN_ERROR] = true;
  constructor(code: KilnErrorCode, message: string, options?: KilnErrorOptions) {
    super(message, options);
    this.name = "KilnError";
    this.code = code;
    // A code outside the catalogue (from JavaScript, where tsc cannot refuse it) is a 500.
    const entry: { status: number } | undefined = errorCatalogue[code];
    this.status = options?.status ?? entry?.status ?? 500;
  }
}

/** True for a KilnError (users' and tables' errors included), even one made by another copy of kiln. */
export function isKilnError(value: unknown): value is KilnError {
  return typeof value === "object" && value !== null && KILN_ERROR in value;
}

/**
 * A KILN_BAD_CONFIG about one kiln.yaml key. `path` (`["services", "users", "scrypt"]`) lets
 * the loader, which has the parsed file, name the line: `kiln.yaml:7: services.users...`.
 */
export class ConfigError extends KilnError {
  readonly path: readonly string[];
  /** The message without the file: what is wrong and how to fix it. */
  readonly reason: string;
  constructor(path: readonly string[], reason: string) {
    super("KILN_BAD_CONFIG", `kiln.yaml: ${reason}`);
    this.name = "KilnError";
    this.path = path;
    this.reason = reason;
  }
}

const HTTP_ERROR = Symbol.for("kiln.HttpError");

/**
 * Throw from a handler to answer with a given status and message: the body is
 * `{"error": message, ...details}`. Given an object (or array) instead of a message, that is
 * the whole JSON body, as an existing API contract may require.
 * @example throw new HttpError(404, "No such task");
 * @example throw new HttpError(422, { errors: { title: ["can't be blank"] } });
 */
export class HttpError extends Error {
  readonly status: number;
  readonly details?: unknown;
  /** The whole JSON body, when one was given instead of a message. */
  readonly body?: unknown;
  readonly [HTTP_ERROR] = true;
  constructor(status: number, message: string | object, details?: unknown) {
    super(typeof message === "string" ? message : `HTTP ${status}`);
    this.name = "HttpError";
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new KilnError("KILN_BAD_STATUS", `HttpError status must be 400..599, got ${status}`);
    }
    this.status = status;
    this.details = details;
    if (typeof message === "object" && message !== null) this.body = message;
  }
}

/** True for an HttpError, even one made by another copy of the kiln module. */
export function isHttpError(value: unknown): value is HttpError {
  return typeof value === "object" && value !== null && HTTP_ERROR in value;
}

/**
 * Every code Kiln raises: the HTTP status it answers inside an endpoint (500: a mistake in the
 * code or the app's setup; 4xx: caused by what the client sent; 503: the database is out) and
 * what it means. docs/errors.md has one row per code, with the fix. Adding a code: one entry
 * here, one row there.
 */
export const errorCatalogue = {
  KILN_BAD_STATUS: {
    status: 500,
    description: "An HttpError or HttpResponse was given a status outside its range.",
  },
  KILN_NO_REQUEST: {
    status: 500,
    description:
      "`request`, `session`, `cookies`, or the importable `tables`/`users`, was used outside a request handler (and, for tables/users, outside onStart).",
  },
  KILN_BAD_ENDPOINT: {
    status: 500,
    description: "An endpoint path or option is malformed (the message names it).",
  },
  KILN_DUPLICATE_ENDPOINT: {
    status: 500,
    description: "Two endpoints were registered for the same method and path.",
  },
  KILN_BAD_CONFIG: {
    status: 500,
    description:
      "kiln.yaml (or the config given to createApp, or an environment variable such as `DATABASE_URL`) is invalid: a bad value, or a key Kiln does not know (a misspelling is never ignored).",
  },
  KILN_APP_NOT_FOUND: {
    status: 500,
    description: "The app folder or its kiln.yaml does not exist.",
  },
  KILN_MODULE_LOAD_FAILED: {
    status: 500,
    description: "A server module threw or failed to compile while loading.",
  },
  KILN_START_FAILED: {
    status: 500,
    description:
      "A function registered with onStart threw (or onStart was given something else), so the app did not start.",
  },
  KILN_NO_APP: {
    status: 500,
    description:
      "No app to act on: a top-level httpEndpoint/onStart outside a loading app folder, or a service the app has not started.",
  },
  KILN_TWO_COPIES: {
    status: 500,
    description:
      "Two copies of kiln whose shared state differs (two versions) were loaded in one process.",
  },
  KILN_NO_USER: {
    status: 500,
    description:
      "An `authenticateUsers` handler was about to run without a user; refused with a 500 (a bug, never the client's doing).",
  },
  KILN_UNKNOWN_TABLE: {
    status: 500,
    description: "A data table was named that the app does not declare.",
  },
  KILN_UNKNOWN_COLUMN: {
    status: 500,
    description: "A column was named (in values, filters or orderBy) that the table lacks.",
  },
  KILN_BAD_VALUE: {
    status: 400,
    description:
      "A value does not fit its column's type (the message names table, column, type), or the database refused it (out of its range); text must be valid Unicode without U+0000. Thrown inside an endpoint, it answers 400 with this message.",
  },
  KILN_BAD_QUERY: {
    status: 500,
    description:
      "A search is malformed: an operator on a column type it does not fit, bad options. A bad `limit`/`offset` or a LIKE pattern ending in an unpaired escape character (values that come from clients) answers 400 inside an endpoint; other cases are mistakes in the code (500).",
  },
  KILN_QUERY_TOO_LARGE: {
    status: 400,
    description:
      "A search is too large for the database: a q.fullTextMatch of more than 64 words, more values than the database binds in one statement, a pattern or value over one of its size limits. Thrown inside an endpoint, it answers 400 with this message.",
  },
  KILN_MULTIPLE_ROWS: { status: 500, description: "table.get() matched more than one row." },
  KILN_ROW_DELETED: { status: 500, description: "A row was updated after it had been deleted." },
  KILN_ROW_NOT_LOADED: {
    status: 500,
    description: "A column was read on a row reached through two links (not loaded).",
  },
  KILN_DUPLICATE_VALUE: {
    status: 409,
    description:
      "A write would give two rows the same value of a unique column (users' email, `unique: true`, a table's `unique:` list); the error's `column` names the column(s). Thrown inside an endpoint, it answers 409 with this message. At start, a migration adding uniqueness refuses existing duplicates with this code, naming them.",
  },
  KILN_DATABASE_BUSY: {
    status: 503,
    description:
      "The database stayed locked or a transaction kept conflicting, after retries. Thrown inside an endpoint, it answers 503.",
  },
  KILN_DATABASE_ERROR: {
    status: 500,
    description: "The database failed an operation (disk, connection); the cause is attached.",
  },
  KILN_MIGRATION_FAILED: {
    status: 500,
    description:
      "At start, one of the migrations of Kiln's own tables (`_kiln_sessions`, `_kiln_api_tokens`, ...) failed; it was rolled back whole.",
  },
  KILN_DATABASE_CONNECT_FAILED: {
    status: 500,
    description:
      "At start, PostgreSQL refused the connection, was not found, refused the role or password, or has no such database.",
  },
  KILN_DATABASE_UNAVAILABLE: {
    status: 503,
    description:
      "PostgreSQL could not be reached, refused the connection, or no connection came free within KILN_PG_CONNECT_TIMEOUT_MS. Thrown inside an endpoint, it answers 503.",
  },
  KILN_NOT_READY: {
    status: 500,
    description: "Data tables were used before the app was ready (its database not open yet).",
  },
  KILN_BAD_CSV: {
    status: 500,
    description:
      "A CSV file given to `kiln tables import` is malformed or has a bad cell (a link to a row that does not exist included).",
  },
  KILN_BAD_COOKIE: {
    status: 500,
    description: "A cookie name, value (not JSON-serialisable) or maxAge is invalid.",
  },
  KILN_COOKIE_TOO_LARGE: {
    status: 500,
    description: "An encrypted cookie is over the browsers' 4096-byte limit.",
  },
  KILN_NO_SHARED_SECRET: {
    status: 500,
    description: "cookies.shared was used but no shared secret is configured.",
  },
  KILN_BAD_SESSION_VALUE: {
    status: 500,
    description: "session.set was given a value that is not JSON-serialisable.",
  },
  KILN_AUTHENTICATION_FAILED: {
    status: 401,
    description: "A login failed: wrong password, unknown email or disabled account.",
  },
  KILN_TOO_MANY_ATTEMPTS: {
    status: 429,
    description: "Too many failed logins for this account from this address, for now.",
  },
  KILN_USER_EXISTS: {
    status: 409,
    description: "A sign-up used an email that already has an account (ignoring case).",
  },
  KILN_INVALID_CREDENTIALS: {
    status: 400,
    description: "A sign-up or new password was refused: not an email, or too short.",
  },
  KILN_CROSS_SITE_REFUSED: {
    status: 403,
    description:
      "A page on another site made the browser log in or send credentials (a forged form post, remembered Basic credentials) to an endpoint that does not list its origin in crossOrigin. Answers 403; no password is checked and nothing is counted.",
  },
} as const satisfies Record<string, { status: number; description: string }>;

/** Every code a KilnError can have: switch on `error.code` with this type. */
export type KilnErrorCode = keyof typeof errorCatalogue;
