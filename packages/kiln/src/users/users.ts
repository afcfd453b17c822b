import { currentApp } from "../app/current-app.ts";
import { isForeign } from "../cookies/xsrf.ts";
import { KilnError } from "../errors.ts";
import { maybeContext } from "../http/context.ts";
import type { ColumnsOf, Row } from "../tables/types.ts";
import { deviceFor, rememberDevice } from "./device-cookie.ts";
import { AuthenticationFailed, CrossSiteRefused, TooManyAttempts } from "./errors.ts";
import { accountOf, addressKey } from "./guessing-defence.ts";
import { forgetLogin, rememberLogin, sessionUserId } from "./login-state.ts";
import { requestUser, setRequestUser } from "./request-user.ts";
import type { UsersService } from "./users-service.ts";

/** The built-in columns of every `users` row (the app's own come from kiln.yaml). */
export interface UserColumns {
  readonly email: string | null;
  readonly enabled: boolean | null;
  /** Never in `toJSON()` or CSV exports. */
  readonly passwordHash: string | null;
  readonly signedUp: Date | null;
  readonly lastLogin: Date | null;
  readonly confirmedEmail: boolean | null;
  /** Recent failed logins on this account, from every address (0 when quiet). */
  readonly nPasswordFailures: number | null;
}

/** A row of the `users` table: the built-in columns typed, the app's own typed by `kiln types`. */
export type UserRow = Row<ColumnsOf<"users">> & UserColumns;

async function service(): Promise<UsersService> {
  const app = currentApp();
  await app.ready();
  const users = app.service<UsersService>("users");
  if (!users) {
    throw new KilnError("KILN_NO_APP", `The app "${app.name}" has no Users service running`);
  }
  return users;
}

function logIn(user: UserRow): void {
  const ctx = maybeContext();
  if (!ctx) return;
  rememberLogin(user.id);
  setRequestUser(ctx, user);
}

/**
 * The Users service: accounts with an email and a password, kept in the `users` data table.
 * Inside a request, logging in stores the user in the session (a browser stays logged in);
 * `authenticateUsers: true` endpoints accept that session or Basic credentials.
 */
export const users = {
  /**
   * Creates an account (email unique regardless of case, password at least
   * `services.users.minPasswordLength` characters) and, inside a request, logs it in.
   * Throws UserExists (409) or InvalidCredentials (400).
   * @example const user = await users.signupWithEmail("ada@example.com", "correct horse");
   */
  async signupWithEmail(email: string, password: string): Promise<UserRow> {
    const user = (await (await service()).addUser(email, password)) as UserRow;
    logIn(user);
    return user;
  },

  /**
   * Checks the email and password and, inside a request, logs the user in (a fresh session
   * id, against fixation). Throws AuthenticationFailed (401) for a wrong password, an unknown
   * email or a disabled account alike, and TooManyAttempts (429) after repeated failures.
   * Inside a request made by another site's page (a forged form post), it throws
   * CrossSiteRefused (403) before checking anything: such attempts never count against the
   * account, so a foreign page cannot lock its owner out.
   * @example
   * httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) =>
   *   users.loginWithEmail(email ?? "", password ?? ""));
   */
  async loginWithEmail(email: string, password: string): Promise<UserRow> {
    const ctx = maybeContext();
    if (ctx && isForeign(ctx)) throw new CrossSiteRefused();
    const address = addressKey(ctx?.raw.ip);
    const account = accountOf(String(email));
    const result = await (await service()).checkCredentials(
      String(email),
      String(password),
      address,
      deviceFor(ctx, account),
    );
    if (result.status === "throttled") {
      if (ctx) ctx.responseHeaders["retry-after"] = String(result.retryAfterSeconds);
      throw new TooManyAttempts(result.retryAfterSeconds);
    }
    if (result.status === "denied") throw new AuthenticationFailed();
    const user = result.user as UserRow;
    rememberDevice(ctx, account);
    logIn(user);
    return user;
  },

  /**
   * The user of the current request: the one whose Basic credentials or session an
   * `authenticateUsers` endpoint accepted, or the one logged in during this request; else
   * null. Synchronous. On endpoints without `authenticateUsers`, `await users.loadUser()`
   * also reads the session.
   * @example httpEndpoint("/me", { authenticateUsers: true }, () => users.getUser()?.email);
   */
  getUser(): UserRow | null {
    const ctx = maybeContext();
    return ctx ? ((requestUser(ctx) as UserRow | null | undefined) ?? null) : null;
  },

  /**
   * Like `getUser()`, and on any endpoint: falls back to the session's logged-in user,
   * loaded from the database (null if it was disabled or deleted meanwhile).
   * @example const user = await users.loadUser();
   */
  async loadUser(): Promise<UserRow | null> {
    const ctx = maybeContext();
    if (!ctx) return null;
    const known = requestUser(ctx);
    if (known !== undefined) return known as UserRow | null;
    const id = sessionUserId();
    const user = id === null ? null : ((await (await service()).enabledUser(id)) as UserRow | null);
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
    logIn(user);
  },

  /**
   * Logs the current session out.
   * @example httpEndpoint("/logout", { methods: ["POST"] }, () => users.logout());
   */
  logout(): void {
    const ctx = maybeContext();
    if (!ctx) return;
    forgetLogin();
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
