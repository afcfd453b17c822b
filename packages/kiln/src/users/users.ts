import { isForeign } from "../cookies/xsrf.ts";
import { KilnError } from "../errors.ts";
import type { RequestContext } from "../http/context.ts";
import type { ColumnsOf, Row } from "../tables/types.ts";
import { requestToken } from "./bearer.ts";
import { deviceFor, rememberDevice } from "./device-cookie.ts";
import { AuthenticationFailed, CrossSiteRefused, TooManyAttempts } from "./errors.ts";
import { accountOf, addressKey } from "./guessing-defence.ts";
import { forgetLogin, rememberLogin } from "./login-state.ts";
import { requestUser, setRequestUser } from "./request-user.ts";
import { sessionUser } from "./session-user.ts";
import type { NewToken, TokenInfo } from "./tokens.ts";
import type { UsersService } from "./users-service.ts";

/**
 * The built-in columns of every `users` row (the app's own come from kiln.yaml). A type literal
 * rather than an interface so that a `UserRow` is assignable to `Row` (see RowMethods).
 */
export type UserColumns = {
  readonly email: string | null;
  readonly enabled: boolean | null;
  /** Never in `toJSON()` or CSV exports. */
  readonly passwordHash: string | null;
  readonly signedUp: Date | null;
  readonly lastLogin: Date | null;
  readonly confirmedEmail: boolean | null;
  /** Recent failed logins on this account, from every address (0 when quiet). */
  readonly nPasswordFailures: number | null;
};

/** A row of the `users` table: the built-in columns typed, the app's own typed by `kiln types`. */
export type UserRow = Row<ColumnsOf<"users">> & UserColumns;

/** Where a users API finds its app's Users service (see `makeUsers`). */
export type UsersServiceLookup = () => Promise<UsersService>;

/**
 * Where a users API finds the request it works on, or undefined outside one: the importable
 * `users` and `app.users` look up the request being handled (`maybeContext`), a handler's
 * `ctx.users` gives its own request, so that it needs no AsyncLocalStorage.
 */
export type RequestLookup = () => RequestContext | undefined;

/** The request, for what only makes sense in one (a login, the request's user). */
function needRequest(ctx: RequestContext | undefined, what: string): RequestContext {
  if (ctx) return ctx;
  throw new KilnError(
    "KILN_NO_REQUEST",
    `users.${what}() works on the request being handled, and none is: call it inside an endpoint handler (or what it awaits). In a script or a test, users.addUser, users.checkPassword and users.getUserByEmail work without a request`,
  );
}

async function checkPassword(
  service: UsersServiceLookup,
  ctx: RequestContext | undefined,
  email: string,
  password: string,
): Promise<UserRow> {
  // A login that another site's page makes the browser send is refused before any password
  // check, so a foreign page can neither guess passwords nor spend the owner's attempts.
  if (ctx && isForeign(ctx)) throw new CrossSiteRefused();
  const address = addressKey(ctx?.ip);
  const device = deviceFor(ctx, accountOf(String(email)));
  const result = await (await service()).checkCredentials(
    String(email),
    String(password),
    address,
    device,
  );
  if (result.status === "throttled") {
    if (ctx) ctx.responseHeaders["retry-after"] = String(result.retryAfterSeconds);
    throw new TooManyAttempts(result.retryAfterSeconds);
  }
  if (result.status === "denied") throw new AuthenticationFailed();
  return result.user as UserRow;
}

function logIn(ctx: RequestContext | undefined, user: UserRow): void {
  if (!ctx) return;
  rememberLogin(ctx, user.id);
  setRequestUser(ctx, user);
}

/** The users API (see `users`), as `app.users` and the importable `users` both give it. */
export type Users = ReturnType<typeof makeUsers>;

/**
 * The users API over the Users service `service` finds, working on the request `lookup` finds:
 * the importable `users` finds the app of the current request, `app.users` its own app; both
 * look up the request being handled, a handler's `ctx.users` is given its own.
 *
 * Each method looks its request up once, synchronously, before its first `await`, and keeps
 * that one: after an await, an ambient lookup might no longer see it.
 */
export function makeUsers(service: UsersServiceLookup, lookup: RequestLookup) {
  return {
    /**
     * Creates an account (email unique regardless of case, password at least
     * `services.users.minPasswordLength` characters) and, inside a request, logs it in (so its
     * `lastLogin` is the sign-up time; outside a request it stays null until a first login) and
     * gives the browser a device cookie for it, as a login does.
     * Throws UserExists (409) or InvalidCredentials (400).
     * @example const user = await users.signupWithEmail("ada@example.com", "correct horse");
     */
    async signupWithEmail(email: string, password: string): Promise<UserRow> {
      const ctx = lookup();
      const loggedIn = ctx !== undefined;
      const user = (await (await service()).addUser(email, password, {}, { loggedIn })) as UserRow;
      // The browser that chose the password is the owner's, as after a login: it skips the
      // account ceiling next time instead of waiting in line behind an attack.
      rememberDevice(ctx, accountOf(String(email)));
      logIn(ctx, user);
      return user;
    },

    /**
     * Checks the email and password and logs the user in to the request's session (a fresh
     * session id, against fixation); outside a request it throws KILN_NO_REQUEST (a script
     * checks a password with `checkPassword`). Throws AuthenticationFailed (401) for a wrong password, an unknown
     * email or a disabled account alike, and TooManyAttempts (429) after repeated failures.
     * Inside a request made by another site's page (a forged form post), it throws
     * CrossSiteRefused (403) before checking anything: such attempts never count against the
     * account, so a foreign page cannot lock its owner out.
     * @example
     * httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) =>
     *   users.loginWithEmail(email ?? "", password ?? ""));
     */
    async loginWithEmail(email: string, password: string): Promise<UserRow> {
      const ctx = needRequest(lookup(), "loginWithEmail");
      const user = await checkPassword(service, ctx, email, password);
      rememberDevice(ctx, accountOf(String(email)));
      logIn(ctx, user);
      return user;
    },

    /**
     * Checks an email and password exactly as `loginWithEmail` does (the guessing defence
     * included) but starts no session and sets no cookie: for clients without cookies, e.g. an
     * endpoint that exchanges a password for an API token. Returns the user row; throws
     * AuthenticationFailed (401) or TooManyAttempts (429, with Retry-After).
     * @example
     * httpEndpoint("/tokens", { methods: ["POST"] }, async ({ email, password }) => {
     *   const user = await users.checkPassword(email ?? "", password ?? "");
     *   return users.createToken(user, { name: "mobile app", expiresIn: "90d" });
     * });
     */
    checkPassword(email: string, password: string): Promise<UserRow> {
      return checkPassword(service, lookup(), email, password);
    },

    /**
     * Creates an API token for a user and returns it with its secret (`token`, starting with
     * `kiln_`): the only time the secret is seen, since Kiln keeps only its SHA-256. Clients
     * send it as `Authorization: Bearer <token>` to `authenticateUsers` endpoints. `expiresIn`:
     * seconds, or "90d", "12h", "30m"; default never.
     * @example const { token } = await users.createToken(ada, { name: "CI", expiresIn: "30d" });
     */
    async createToken(
      user: UserRow,
      options: { name?: string; expiresIn?: number | string } = {},
    ): Promise<NewToken> {
      return (await service()).createToken(user, options);
    },

    /**
     * A user's tokens (id, name, createdAt, expiresAt, lastUsedAt; never the secrets), newest first.
     * @example const list = await users.listTokens(users.getUser()!);
     */
    async listTokens(user: UserRow): Promise<TokenInfo[]> {
      return (await service()).listTokens(user);
    },

    /**
     * Revokes one of `user`'s tokens by id: refused at once by every process. Resolves to false
     * when the user has no token with this id.
     * @example await users.revokeToken(users.getUser()!, id);
     */
    async revokeToken(user: UserRow, id: string): Promise<boolean> {
      return (await service()).revokeToken(id, user);
    },

    /**
     * Revokes every token of a user (after a suspected leak, say); resolves to how many.
     * @example await users.revokeAllTokens(ada);
     */
    async revokeAllTokens(user: UserRow): Promise<number> {
      return (await service()).revokeAllTokens(user);
    },

    /**
     * The API token the current request was authenticated with (no secret), or null: e.g. to
     * let a client revoke its own token on logout.
     * @example httpEndpoint("/logout", { authenticateUsers: true }, () =>
     *   users.revokeToken(users.getUser()!, users.getToken()!.id));
     */
    getToken(): TokenInfo | null {
      return requestToken(needRequest(lookup(), "getToken"));
    },

    /**
     * Changes a user's email, checked like a sign-up's and unique regardless of case. Throws
     * InvalidCredentials (400) or UserExists (409).
     * @example await users.setEmail(ada, "ada@lovelace.example");
     */
    async setEmail(user: UserRow, email: string): Promise<void> {
      await (await service()).setEmail(user, email);
    },

    /**
     * The user of the current request, on any endpoint: the one whose credentials or session
     * an `authenticateUsers` endpoint accepted, the enabled user the request's session is logged
     * in as, or the one logged in during this request; else null. Synchronous (the session's
     * user is read before the handler runs). Outside a request it throws KILN_NO_REQUEST.
     * @example httpEndpoint("/me", { authenticateUsers: true }, () => users.getUser()?.email);
     */
    getUser(): UserRow | null {
      return (requestUser(needRequest(lookup(), "getUser")) as UserRow | null | undefined) ?? null;
    },

    /**
     * `getUser()` as a promise (kept from when `getUser()` read the session only on
     * `authenticateUsers` endpoints): looks the session's user up if it is not known yet.
     * @example const user = await users.loadUser();
     */
    async loadUser(): Promise<UserRow | null> {
      const ctx = needRequest(lookup(), "loadUser");
      const known = requestUser(ctx);
      if (known !== undefined) return known as UserRow | null;
      const user = (await sessionUser(await service(), ctx)) as UserRow | null;
      setRequestUser(ctx, user);
      return user;
    },

    /**
     * Logs a user in without a password (after your own check, e.g. an emailed link).
     * @example users.forceLogin(await tables.users.get({ email: "ada@example.com" }));
     */
    forceLogin(user: UserRow): void {
      if (!user || typeof user.id !== "string") {
        throw new KilnError("KILN_BAD_VALUE", "users.forceLogin needs a row of the users table");
      }
      logIn(needRequest(lookup(), "forceLogin"), user);
    },

    /**
     * Logs the current session out.
     * @example httpEndpoint("/logout", { methods: ["POST"] }, () => users.logout());
     */
    logout(): void {
      const ctx = needRequest(lookup(), "logout");
      forgetLogin(ctx);
      setRequestUser(ctx, null);
    },

    /**
     * Creates an account without logging anyone in (scripts, admin endpoints, the CLI).
     * @example await users.addUser("ada@example.com", "correct horse", { name: "Ada" });
     */
    async addUser(email: string, password: string, values: Record<string, unknown> = {}) {
      return (await (await service()).addUser(email, password, values)) as UserRow;
    },

    /**
     * The account with this email (case-insensitively), or null.
     * @example const ada = await users.getUserByEmail("ADA@example.com");
     */
    async getUserByEmail(email: string): Promise<UserRow | null> {
      return (await (await service()).findByEmail(email)) as UserRow | null;
    },

    /**
     * Sets a user's password. Remembered Basic credentials stop working at once, everywhere.
     * @example await users.setPassword(ada, "a new long passphrase");
     */
    async setPassword(user: UserRow, password: string): Promise<void> {
      await (await service()).setPassword(user, password);
    },
  };
}
