/**
 * Kiln's error catalogue: every error a user can meet has a stable `code` (documented in
 * docs/errors.md; a test keeps the two in step) and a message that names what is involved.
 */

/** Base class of every error Kiln raises on purpose. */
export class KilnError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KilnError";
    this.code = code;
  }
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

/** Every stable code, with its meaning and fix: the source of docs/errors.md. */
export const errorCatalogue = {
  KILN_BAD_STATUS: "An HttpError or HttpResponse was given a status outside its range.",
  KILN_NO_REQUEST:
    "`request`, `session`, `cookies`, or the importable `tables`/`users`, was used outside a request handler (and, for tables/users, outside onStart).",
  KILN_BAD_ENDPOINT: "An endpoint path or option is malformed (the message names it).",
  KILN_DUPLICATE_ENDPOINT: "Two endpoints were registered for the same method and path.",
  KILN_BAD_CONFIG:
    "kiln.yaml (or the config given to createApp, or an environment variable such as `DATABASE_URL`) is invalid: a bad value, or a key Kiln does not know (a misspelling is never ignored).",
  KILN_APP_NOT_FOUND: "The app folder or its kiln.yaml does not exist.",
  KILN_MODULE_LOAD_FAILED: "A server module threw or failed to compile while loading.",
  KILN_START_FAILED:
    "A function registered with onStart threw (or onStart was given something else), so the app did not start.",
  KILN_NO_APP:
    "No app to act on: a top-level httpEndpoint/onStart outside a loading app folder, or a service the app has not started.",
  KILN_TWO_COPIES:
    "Two copies of kiln whose shared state differs (two versions) were loaded in one process.",
  KILN_NO_USER:
    "An `authenticateUsers` handler was about to run without a user; refused with a 500 (a bug, never the client's doing).",
  KILN_UNKNOWN_TABLE: "A data table was named that the app does not declare.",
  KILN_UNKNOWN_COLUMN: "A column was named (in values, filters or orderBy) that the table lacks.",
  KILN_BAD_VALUE:
    "A value does not fit its column's type (the message names table, column, type), or the database refused it (out of its range); text must be valid Unicode without U+0000. Thrown inside an endpoint, it answers 400 with this message.",
  KILN_BAD_QUERY:
    "A search is malformed: an operator on a column type it does not fit, bad options. A bad `limit`/`offset` or a LIKE pattern ending in an unpaired escape character (values that come from clients) answers 400 inside an endpoint; other cases are mistakes in the code (500).",
  KILN_QUERY_TOO_LARGE:
    "A search is too large for the database: a q.fullTextMatch of more than 64 words, more values than the database binds in one statement, a pattern or value over one of its size limits. Thrown inside an endpoint, it answers 400 with this message.",
  KILN_MULTIPLE_ROWS: "table.get() matched more than one row.",
  KILN_ROW_DELETED: "A row was updated after it had been deleted.",
  KILN_ROW_NOT_LOADED: "A column was read on a row reached through two links (not loaded).",
  KILN_DUPLICATE_VALUE:
    "A write would give two rows the same value of a unique column (users' email, `unique: true`, a table's `unique:` list); the error's `column` names the column(s). Thrown inside an endpoint, it answers 409 with this message. At start, a migration adding uniqueness refuses existing duplicates with this code, naming them.",
  KILN_DATABASE_BUSY:
    "The database stayed locked or a transaction kept conflicting, after retries. Thrown inside an endpoint, it answers 503.",
  KILN_DATABASE_ERROR:
    "The database failed an operation (disk, connection); the cause is attached.",
  KILN_DATABASE_CONNECT_FAILED:
    "At start, PostgreSQL refused the connection, was not found, refused the role or password, or has no such database.",
  KILN_DATABASE_UNAVAILABLE:
    "PostgreSQL could not be reached, refused the connection, or no connection came free within KILN_PG_CONNECT_TIMEOUT_MS. Thrown inside an endpoint, it answers 503.",
  KILN_NOT_READY: "Data tables were used before the app was ready (its database not open yet).",
  KILN_BAD_CSV:
    "A CSV file given to `kiln tables import` is malformed or has a bad cell (a link to a row that does not exist included).",
  KILN_BAD_COOKIE: "A cookie name, value (not JSON-serialisable) or maxAge is invalid.",
  KILN_COOKIE_TOO_LARGE: "An encrypted cookie is over the browsers' 4096-byte limit.",
  KILN_NO_SHARED_SECRET: "cookies.shared was used but no shared secret is configured.",
  KILN_BAD_SESSION_VALUE: "session.set was given a value that is not JSON-serialisable.",
  KILN_AUTHENTICATION_FAILED: "A login failed: wrong password, unknown email or disabled account.",
  KILN_TOO_MANY_ATTEMPTS: "Too many failed logins for this account from this address, for now.",
  KILN_USER_EXISTS: "A sign-up used an email that already has an account (ignoring case).",
  KILN_INVALID_CREDENTIALS: "A sign-up or new password was refused: not an email, or too short.",
  KILN_CROSS_SITE_REFUSED:
    "A page on another site made the browser log in or send credentials (a forged form post, remembered Basic credentials) to an endpoint that does not list its origin in crossOrigin. Answers 403; no password is checked and nothing is counted.",
} as const;
