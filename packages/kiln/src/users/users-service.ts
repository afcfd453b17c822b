import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { isKilnError, KilnError } from "../errors.ts";
import type { KilnService } from "../http/service.ts";
import { rowRef } from "../tables/row-ref.ts";
import type { TablesService } from "../tables/service.ts";
import type { SystemMigration } from "../tables/system-migrations.ts";
import type { Row } from "../tables/types.ts";
import { authenticateFeature } from "./authenticate.ts";
import { CredentialMemory } from "./credential-memory.ts";
import { InvalidCredentials, UserExists } from "./errors.ts";
import { accountKey, accountOf, failuresMigration, GuessingDefence } from "./guessing-defence.ts";
import { endSessionsOf } from "./login-state.ts";
import { dummyHash, hashPassword, needsRehash, verifyPassword } from "./passwords.ts";
import { sessionUserFeature } from "./session-user.ts";
import { type FoundToken, tokenLookup, type UsersTableLike } from "./token-lookup.ts";
import {
  expiresInMs,
  looksLikeToken,
  type NewToken,
  type TokenInfo,
  TokenStore,
  tokensMigration,
} from "./tokens.ts";
import { readUsersSettings, type UsersSettings } from "./users-config.ts";
import { EMAIL_KEY, emailKey, normaliseEmail, usersTable } from "./users-table.ts";

/** The users table as the service needs it (user-store.ts implements it over data tables). */
export interface UserStore {
  readonly db: Kysely<unknown>;
  /** The user whose email matches case-insensitively, or null. */
  findByEmail(email: string): Row | null | Promise<Row | null>;
  findById(id: string): Promise<Row | null>;
  add(values: Record<string, unknown>): Promise<Row>;
  /** Every user by email, fetched a page at a time. */
  all(): AsyncIterable<Row>;
  /** The API tokens (tokens.ts). */
  readonly tokens: TokenStore;
  /** The token with this secret and its user, in one query (token-lookup.ts). */
  findToken(token: string): Promise<FoundToken | null>;
}

/** What checking an API token came to: the user and the token, or "denied". */
export type TokenCheckResult = { status: "ok"; user: Row; token: TokenInfo } | { status: "denied" };

/** What checking an email and password came to. */
export type CredentialCheckResult =
  /** `verified`: the password was checked now (not recalled from the credential memory). */
  | { status: "ok"; user: Row; verified: boolean }
  | { status: "denied" }
  | { status: "throttled"; retryAfterSeconds: number };

/** Longest email address (RFC 5321's path limit) and password Kiln accepts anywhere. */
export const MAX_EMAIL = 254;
export const MAX_PASSWORD = 1024;

/**
 * The Users service (docs/users.md): accounts in the `users` data table, passwords hashed with
 * scrypt, Basic credentials checked with a guessing defence and a memory of recent successes.
 */
export class UsersService implements KilnService {
  readonly name = "users";
  readonly features;
  readonly settings: UsersSettings;
  readonly #store: UserStore;
  readonly #defence: GuessingDefence;
  readonly #memory: CredentialMemory;
  /** The hash an unknown email is checked against (see dummyHash). */
  #dummy: Promise<string> | null = null;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;

  private constructor(app: UsersHost, store: UserStore, settings: UsersSettings) {
    this.settings = settings;
    this.#store = store;
    this.#log = app.log;
    this.#defence = new GuessingDefence(store.db, settings.guessing);
    this.#memory = new CredentialMemory({
      maxEntries: settings.credentialMemory.maxEntries,
      ttlMs: settings.credentialMemory.ttlSeconds * 1000,
    });
    this.features = [authenticateFeature(this, app.name), sessionUserFeature(this)];
    this.#timer = setInterval(() => this.#forgetOld(), 3_600_000);
    this.#timer.unref();
  }

  static async start(
    app: UsersHost,
    store: UserStore,
    settings: UsersSettings,
  ): Promise<UsersService> {
    const service = new UsersService(app, store, settings);
    // Made in the background: start-up does not wait for it, and it is ready long before a
    // first unknown email needs it (so that first answer takes no longer than the others).
    service.#dummy = dummyHash(settings.scrypt);
    service.#forgetOld();
    return service;
  }

  /**
   * Checks an email and password, as Basic authentication and `loginWithEmail` do. An unknown
   * email, a wrong password and a disabled account all come to "denied", in the same time: a
   * missing user is checked against a dummy hash. A credential verified in the last few
   * minutes is accepted without scrypt while the account sees no failures. `device` is the
   * id of a device cookie that vouches for this account (see device-cookie.ts), or null.
   *
   * An email over 254 characters or a password over 1024 throws InvalidCredentials (400)
   * before any lookup or counting: no such account can exist, and an unauthenticated request
   * must not make the database store (or scrypt hash) whatever size it sends.
   *
   * The usual case (a remembered credential, the user row read at once) answers without a
   * promise; anything else returns one. Throws (InvalidCredentials) rather than rejecting.
   */
  checkCredentials(
    email: string,
    password: string,
    address: string,
    device: string | null = null,
  ): CredentialCheckResult | Promise<CredentialCheckResult> {
    checkLengths(email, password);
    const account = accountOf(email);
    const found = this.#store.findByEmail(account);
    const check = (user: Row | null) => {
      const hash = usable(user);
      if (hash && !user!.nPasswordFailures && this.#memory.recall(account, password, hash)) {
        this.#defence.noteSuccess(account, address)?.catch((error) => this.#logError(error));
        return { status: "ok", user: user!, verified: false } as const;
      }
      return this.#verify(user, hash, account, password, address, device);
    };
    return found instanceof Promise ? found.then(check) : check(found);
  }

  /** checkCredentials without a remembered credential: the password hash, guarded. */
  async #verify(
    user: Row | null,
    hash: string | null,
    account: string,
    password: string,
    address: string,
    device: string | null,
  ): Promise<CredentialCheckResult> {
    const key = accountKey(account);
    const outcome = await this.#defence.guard(
      key,
      address,
      async () => {
        // Only a correct password can be remembered, so a wrong one always pays the full hash.
        if (hash && this.#memory.recall(account, password, hash)) return true;
        this.#dummy ??= dummyHash(this.settings.scrypt);
        const correct = await verifyPassword(password, hash ?? (await this.#dummy));
        return correct && hash !== null;
      },
      device,
    );
    if (outcome.outcome === "throttled") return { status: "throttled", ...outcome };
    if (outcome.outcome === "failed") {
      if (user && (user.nPasswordFailures ?? 0) !== outcome.accountFailures) {
        await user.update({ nPasswordFailures: outcome.accountFailures });
      } else if (!user) {
        // A known account's failure costs one more committed write (the row above): an
        // unknown email makes an equivalent one, or the answer's time would tell them apart.
        await this.#defence.equivalentWrite(key);
      }
      return { status: "denied" };
    }
    await this.#afterSuccess(user!, account, password, hash!, outcome.accountFailures);
    return { status: "ok", user: user!, verified: true };
  }

  async #afterSuccess(
    user: Row,
    account: string,
    password: string,
    hash: string,
    accountFailures: number,
  ): Promise<void> {
    const changes: Record<string, unknown> = { lastLogin: new Date() };
    if ((user.nPasswordFailures ?? 0) !== accountFailures) {
      changes.nPasswordFailures = accountFailures;
    }
    let current = hash;
    if (needsRehash(hash, this.settings.scrypt)) {
      current = await hashPassword(password, this.settings.scrypt);
      changes.passwordHash = current;
    }
    await user.update(changes);
    this.#memory.remember(account, password, current);
  }

  /**
   * Creates an enabled account; the email must be new (case-insensitively). `loggedIn`: the
   * caller logs the new user in at once (signupWithEmail in a request), so `lastLogin` is the
   * sign-up time rather than empty.
   */
  async addUser(
    email: string,
    password: string,
    extra: Record<string, unknown> = {},
    options: { loggedIn?: boolean } = {},
  ): Promise<Row> {
    const clean = checkEmail(email);
    this.checkPassword(password);
    // Hashed before anything touches the database: inside a caller's inTransaction, the
    // transaction begins at its first query, so the ~0.1 s of scrypt holds no connection
    // (and on SQLite not the write lock every other write waits for).
    const passwordHash = await hashPassword(password, this.settings.scrypt);
    if (await this.#store.findByEmail(clean)) throw new UserExists(clean);
    const now = new Date();
    try {
      return await this.#store.add({
        ...extra,
        ...(options.loggedIn ? { lastLogin: now } : {}),
        email: clean,
        enabled: true,
        passwordHash,
        signedUp: now,
        confirmedEmail: false,
        nPasswordFailures: 0,
      });
    } catch (error) {
      // Two sign-ups racing for one email: the unique index decides.
      if (isKilnError(error) && error.code === "KILN_DUPLICATE_VALUE") throw new UserExists(clean);
      throw error;
    }
  }

  /**
   * Checks an API token: known, not expired, and its user enabled. Anything else (a string
   * not shaped like a token included: refused before any query) is "denied". Tokens need no
   * guessing defence: with 256 random bits there is nothing to guess, and a refusal costs one
   * indexed lookup.
   */
  async checkToken(token: string): Promise<TokenCheckResult> {
    if (!looksLikeToken(token)) return { status: "denied" };
    const found = await this.#store.findToken(token);
    const now = Date.now();
    if (found?.user.enabled !== true) return { status: "denied" };
    if (found.expiresAt > 0 && found.expiresAt <= now) return { status: "denied" };
    this.#store.tokens
      .noteUse(found.token.id, found.lastUsedAt, now)
      ?.catch((error) => this.#logError(error));
    return { status: "ok", user: found.user, token: found.token };
  }

  /** A new API token for `user`; the secret is in the result, and nowhere else. */
  async createToken(user: Row, options: { name?: string; expiresIn?: unknown } = {}) {
    const name = options.name ?? "token";
    if (typeof name !== "string" || name.trim() === "" || name.length > 200) {
      throw new InvalidCredentials("A token name is text of 1 to 200 characters");
    }
    return this.#store.tokens.create(
      userRowNumber(user),
      name.trim(),
      expiresInMs(options.expiresIn),
    ) as Promise<NewToken>;
  }

  listTokens(user: Row): Promise<TokenInfo[]> {
    return this.#store.tokens.list(userRowNumber(user));
  }

  /** Revokes one of the user's tokens (any user's, without `user`); false when none matched. */
  revokeToken(id: string, user?: Row): Promise<boolean> {
    if (typeof id !== "string" || id === "") return Promise.resolve(false);
    return this.#store.tokens.revoke(id, user ? userRowNumber(user) : undefined);
  }

  revokeAllTokens(user: Row): Promise<number> {
    return this.#store.tokens.revokeAll(userRowNumber(user));
  }

  /**
   * Deletes a user for good, with their API tokens and the sessions they are logged in to
   * (those first: were the row deleted first and the rest failed, a token would outlive it).
   * Links to the user from other tables then read as a deleted row's do (null, left out).
   */
  async removeUser(user: Row): Promise<{ tokens: number; sessions: number }> {
    const rowNumber = userRowNumber(user);
    const sessions = await endSessionsOf(this.#store.db, user.id);
    const tokens = await this.#store.tokens.revokeAll(rowNumber);
    await user.delete();
    return { tokens, sessions };
  }

  /**
   * Changes a user's email: validated like a sign-up's, and unique regardless of case (a
   * change of case alone is allowed). Throws InvalidCredentials (400) or UserExists (409).
   */
  async setEmail(user: Row, email: string): Promise<void> {
    const clean = checkEmail(email);
    const holder = await this.#store.findByEmail(clean);
    if (holder && holder.id !== user.id) throw new UserExists(clean);
    try {
      await user.update({ email: clean });
    } catch (error) {
      // Two changes racing for one email: the unique index decides.
      if (isKilnError(error) && error.code === "KILN_DUPLICATE_VALUE") throw new UserExists(clean);
      throw error;
    }
  }

  /** Sets a new password: remembered credentials stop matching at once, in every process. */
  async setPassword(user: Row, password: string): Promise<void> {
    this.checkPassword(password);
    await user.update({ passwordHash: await hashPassword(password, this.settings.scrypt) });
  }

  async findByEmail(email: string): Promise<Row | null> {
    return this.#store.findByEmail(email.trim().toLowerCase());
  }

  /** The user with this row id if still enabled, else null (a session's user). */
  async enabledUser(id: string): Promise<Row | null> {
    const user = await this.#store.findById(id);
    return user && user.enabled === true ? user : null;
  }

  allUsers(): AsyncIterable<Row> {
    return this.#store.all();
  }

  checkPassword(password: string): void {
    const min = this.settings.minPasswordLength;
    if (typeof password !== "string" || password.length < min) {
      throw new InvalidCredentials(`A password needs at least ${min} characters`);
    }
    if (password.length > MAX_PASSWORD) {
      throw new InvalidCredentials(`A password has at most ${MAX_PASSWORD} characters`);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#memory.clear();
  }

  #forgetOld(): void {
    this.#defence.forgetOld().catch((error) => this.#logError(error));
    this.#store.tokens.deleteExpired().catch((error) => this.#logError(error));
  }

  #logError(error: unknown): void {
    this.#log.warn({ err: error }, "users: could not update the login counters");
  }
}

/** The stored hash of an enabled user with a password, else null (the login cannot succeed). */
function usable(user: Row | null): string | null {
  if (user?.enabled !== true) return null;
  return typeof user.passwordHash === "string" && user.passwordHash ? user.passwordHash : null;
}

/** A login's email and password within the lengths any account can have, else a 400. */
function checkLengths(email: string, password: string): void {
  if (email.length > MAX_EMAIL) {
    throw new InvalidCredentials(`An email address has at most ${MAX_EMAIL} characters`);
  }
  if (password.length > MAX_PASSWORD) {
    throw new InvalidCredentials(`A password has at most ${MAX_PASSWORD} characters`);
  }
}

/** The number of a users row (its id is "[tableId,number]"), for the tokens table. */
function userRowNumber(user: Row): number {
  const ref = rowRef(user);
  if (ref?.table !== "users") {
    throw new KilnError("KILN_BAD_VALUE", "Expected a row of the users table");
  }
  return ref.rowId;
}

function checkEmail(email: string): string {
  const clean = typeof email === "string" ? normaliseEmail(email) : null;
  if (clean === null) {
    throw new InvalidCredentials(`Not an email address: ${JSON.stringify(email)}`);
  }
  return clean;
}

/** The users data table, as far as users need it (see tables/table.ts). */
type UsersTable = UsersTableLike & {
  getById(id: string): Promise<Row | null>;
  addRow(values: Record<string, unknown>): Promise<Row>;
  search(filters?: object, options?: object): AsyncIterable<Row>;
  /** The row whose internal column has this value (see tables/table.ts), or null. */
  getByInternal(column: string, value: unknown): Row | null | Promise<Row | null>;
};

/** What the Users service needs of its app (the app object is one). */
export interface UsersHost {
  readonly name: string;
  readonly log: Logger;
  readonly config: { readonly services?: Parameters<typeof readUsersSettings>[0] };
  /** The tables service, started before this one: accounts are the `users` data table. */
  readonly services: { readonly tables?: TablesService };
}

/** The Users service's own tables, in order (see tables/system-migrations.ts). */
export const usersMigrations: readonly SystemMigration[] = [failuresMigration, tokensMigration];

/**
 * Starts the Users service of an app: its accounts are the `users` data table, its counters
 * a Kiln table in the same database (so every process of the app shares both).
 */
export const usersService = async (app: UsersHost): Promise<UsersService | null> => {
  const tables = app.services.tables;
  if (!tables) return null;
  await tables.migrateSystem(usersMigrations);
  const users: UsersTable = tables.table(usersTable.name);
  const tokens = new TokenStore(tables.systemDb);
  const store: UserStore = {
    db: tables.systemDb,
    tokens,
    findToken: tokenLookup(tokens, tables, users),
    // Through the unique index on the lower-cased email (see usersTable).
    findByEmail: (email) => users.getByInternal(EMAIL_KEY, emailKey(email)),
    findById: (id) => users.getById(id),
    add: (values) => users.addRow(values),
    all: () => users.search({}, { orderBy: "email" }),
  };
  return UsersService.start(app, store, readUsersSettings(app.config.services));
};
