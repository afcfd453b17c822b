import type { Kysely } from "kysely";
import type { KilnApp } from "../app/create-app.ts";
import type { KilnService, ServiceFactory } from "../app/service.ts";
import { normaliseEmail } from "../tables/system-tables.ts";
import type { Row } from "../tables/types.ts";
import { authenticateFeature } from "./authenticate.ts";
import { CredentialMemory } from "./credential-memory.ts";
import { InvalidCredentials, UserExists } from "./errors.ts";
import { GuessingDefence } from "./guessing-defence.ts";
import { dummyHash, hashPassword, needsRehash, verifyPassword } from "./passwords.ts";
import { readUsersSettings, type UsersSettings } from "./users-config.ts";

/** The users table as the service needs it (user-store.ts implements it over data tables). */
export interface UserStore {
  readonly db: Kysely<unknown>;
  /** The user whose email matches case-insensitively, or null. */
  findByEmail(email: string): Promise<Row | null>;
  findById(id: string): Promise<Row | null>;
  add(values: Record<string, unknown>): Promise<Row>;
  /** Every user by email, fetched a page at a time. */
  all(): AsyncIterable<Row>;
}

/** What checking an email and password came to. */
export type CredentialCheckResult =
  | { status: "ok"; user: Row }
  | { status: "denied" }
  | { status: "throttled"; retryAfterSeconds: number };

const MAX_PASSWORD = 1024;

/**
 * The Users service (SPEC §5): accounts in the `users` data table, passwords hashed with
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
  readonly #log: KilnApp["log"];
  readonly #timer: NodeJS.Timeout;

  private constructor(app: KilnApp, store: UserStore, settings: UsersSettings) {
    this.settings = settings;
    this.#store = store;
    this.#log = app.log;
    this.#defence = new GuessingDefence(store.db, settings.guessing);
    this.#memory = new CredentialMemory({
      maxEntries: settings.credentialMemory.maxEntries,
      ttlMs: settings.credentialMemory.ttlSeconds * 1000,
    });
    this.features = [authenticateFeature(this, app.name)];
    this.#timer = setInterval(() => this.#forgetOld(), 3_600_000);
    this.#timer.unref();
  }

  static async start(
    app: KilnApp,
    store: UserStore,
    settings: UsersSettings,
  ): Promise<UsersService> {
    const service = new UsersService(app, store, settings);
    // Made in the background: start-up does not wait for it, and it is ready long before a
    // first unknown email needs it (so that first answer takes no longer than the others).
    service.#dummy = dummyHash(settings.scrypt);
    await service.#defence.ensureTable();
    service.#forgetOld();
    return service;
  }

  /**
   * Checks an email and password, as Basic authentication and `loginWithEmail` do. An unknown
   * email, a wrong password and a disabled account all come to "denied", in the same time: a
   * missing user is checked against a dummy hash. A credential verified in the last few
   * minutes is accepted without scrypt while the account sees no failures.
   */
  async checkCredentials(
    email: string,
    password: string,
    address: string,
  ): Promise<CredentialCheckResult> {
    const account = email.trim().toLowerCase();
    const user = await this.#store.findByEmail(account);
    const hash = usable(user);
    if (hash && !user!.nPasswordFailures && this.#memory.recall(account, password, hash)) {
      this.#defence.noteSuccess(account, address)?.catch((error) => this.#logError(error));
      return { status: "ok", user: user! };
    }
    const outcome = await this.#defence.guard(account, address, async () => {
      // Only a correct password can be remembered, so a wrong one always pays the full hash.
      if (hash && this.#memory.recall(account, password, hash)) return true;
      this.#dummy ??= dummyHash(this.settings.scrypt);
      const correct = await verifyPassword(password, hash ?? (await this.#dummy));
      return correct && hash !== null;
    });
    if (outcome.outcome === "throttled") return { status: "throttled", ...outcome };
    if (outcome.outcome === "failed") {
      if (user && (user.nPasswordFailures ?? 0) !== outcome.accountFailures) {
        await user.update({ nPasswordFailures: outcome.accountFailures });
      } else if (!user) {
        // A known account's failure costs one more committed write (the row above): an
        // unknown email makes an equivalent one, or the answer's time would tell them apart.
        await this.#defence.equivalentWrite(account);
      }
      return { status: "denied" };
    }
    await this.#afterSuccess(user!, account, password, hash!, outcome.accountFailures);
    return { status: "ok", user: user! };
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

  /** Creates an enabled account; the email must be new (case-insensitively). */
  async addUser(
    email: string,
    password: string,
    extra: Record<string, unknown> = {},
  ): Promise<Row> {
    const clean = checkEmail(email);
    this.checkPassword(password);
    // Hashed before anything touches the database: inside a caller's inTransaction, the
    // transaction begins at its first query, so the ~0.1 s of scrypt holds no connection
    // (and on SQLite not the write lock every other write waits for).
    const passwordHash = await hashPassword(password, this.settings.scrypt);
    if (await this.#store.findByEmail(clean)) throw new UserExists(clean);
    try {
      return await this.#store.add({
        ...extra,
        email: clean,
        enabled: true,
        passwordHash,
        signedUp: new Date(),
        confirmedEmail: false,
        nPasswordFailures: 0,
      });
    } catch (error) {
      // Two sign-ups racing for one email: the unique index decides.
      if ((error as { code?: string }).code === "KILN_DUPLICATE_VALUE") throw new UserExists(clean);
      throw error;
    }
  }

  /** Sets a new password: remembered credentials stop matching at once, in every process. */
  async setPassword(user: Row, password: string): Promise<void> {
    this.checkPassword(password);
    await user.update({ passwordHash: await hashPassword(password, this.settings.scrypt) });
  }

  findByEmail(email: string): Promise<Row | null> {
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

function checkEmail(email: string): string {
  const clean = typeof email === "string" ? normaliseEmail(email) : null;
  if (clean === null) {
    throw new InvalidCredentials(`Not an email address: ${JSON.stringify(email)}`);
  }
  return clean;
}

/** The tables service, as far as users need it (see tables/service.ts). */
interface TablesLike {
  readonly db: Kysely<unknown>;
  table(name: string): {
    getById(id: string): Promise<Row | null>;
    addRow(values: Record<string, unknown>): Promise<Row>;
    search(filters?: object, options?: object): AsyncIterable<Row>;
  };
  findUserByEmail(email: string): Promise<Row | null>;
}

/**
 * Starts the Users service of an app: its accounts are the `users` data table, its counters
 * a Kiln table in the same database (so every process of the app shares both).
 */
export const usersService: ServiceFactory = async (app: KilnApp) => {
  const tables = app.service("tables") as (KilnService & TablesLike) | undefined;
  if (!tables) return null;
  const users = tables.table("users");
  const store: UserStore = {
    db: tables.db,
    findByEmail: (email) => tables.findUserByEmail(email),
    findById: (id) => users.getById(id),
    add: (values) => users.addRow(values),
    all: () => users.search({}, { orderBy: "email" }),
  };
  return UsersService.start(app, store, readUsersSettings(app.config.services));
};
