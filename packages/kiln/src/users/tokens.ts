import { hash, randomBytes } from "node:crypto";
import { type CompiledQuery, type Kysely, sql } from "kysely";
import { KilnError } from "../errors.ts";
import { adoptIndex, adoptTable, type SystemMigration } from "../tables/system-migrations.ts";

/** Kiln's own table of API tokens, shared by every process of the app. */
export const TOKENS_TABLE = "_kiln_api_tokens";

/** Every token starts with this, so that secret scanners and people recognise one. */
export const TOKEN_PREFIX = "kiln_";
/** `kiln_` + 32 random bytes in base64url (256 bits): guessing one is hopeless. */
const TOKEN_SHAPE = /^kiln_[A-Za-z0-9_-]{43}$/;

/** How often, at most, a token's last-used time is written (per token, across processes). */
export const LAST_USED_EVERY_MS = 60_000;

/** What Kiln keeps about a token: never the secret itself, only its SHA-256. */
export interface TokenInfo {
  /** A public id, to list and revoke the token by (not a secret). */
  readonly id: string;
  readonly name: string;
  readonly createdAt: Date;
  /** null: the token never expires. */
  readonly expiresAt: Date | null;
  /** Within a minute or so; null until first used. */
  readonly lastUsedAt: Date | null;
}

/** A token just made: `token` is the secret, shown this once and never again. */
export interface NewToken extends TokenInfo {
  readonly token: string;
}

interface TokenRow {
  id: string;
  hash: string;
  user_row: number | string;
  name: string;
  created_at: number | string;
  expires_at: number | string;
  last_used_at: number | string;
}
type TokensTables = { [TOKENS_TABLE]: TokenRow };
type TokensDb = Kysely<TokensTables>;

/** The secret's SHA-256, hex: what the table stores and looks the token up by. */
export function tokenHash(token: string): string {
  return hash("sha256", token, "hex");
}

/** True for a string shaped like a Kiln token (checked before any database work). */
export function looksLikeToken(value: string): boolean {
  return value.length === 48 && TOKEN_SHAPE.test(value);
}

/**
 * `expiresIn` as milliseconds: a number of seconds, or a string with a unit ("90d", "12h",
 * "30m", "45s"); null/undefined: never. Anything else is KILN_BAD_VALUE.
 * @example expiresInMs("30d") // 2592000000
 */
export function expiresInMs(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  const units: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const match = typeof value === "string" ? /^(\d+)\s*([smhd])$/.exec(value.trim()) : null;
  const ms = match
    ? Number(match[1]) * units[match[2]!]!
    : typeof value === "number"
      ? value * 1000
      : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new KilnError(
      "KILN_BAD_VALUE",
      `expiresIn must be a number of seconds above 0 or a duration such as "30d", "12h", "15m" (got ${JSON.stringify(value)})`,
    );
  }
  return ms;
}

/**
 * The tokens table (Kiln 0.1 named it `kiln_api_tokens`: such a table is renamed, its tokens
 * kept). Part of the Users service's migrations (users-service.ts).
 */
export const tokensMigration: SystemMigration = {
  name: "users/2-api-tokens",
  up: async (dialect) => {
    await adoptTable(dialect, "kiln_api_tokens", TOKENS_TABLE);
    await dialect.db.schema
      .createTable(TOKENS_TABLE)
      .ifNotExists()
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("hash", "text", (c) => c.notNull().unique())
      .addColumn("user_row", "bigint", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("expires_at", "bigint", (c) => c.notNull().defaultTo(0))
      .addColumn("last_used_at", "bigint", (c) => c.notNull().defaultTo(0))
      .execute();
    await adoptIndex(dialect, "kiln_api_tokens_user_row", {
      name: `${TOKENS_TABLE}_user_row`,
      table: TOKENS_TABLE,
      column: "user_row",
    });
  },
};

/**
 * The API tokens of the Users service, in a Kiln table of the app's database:
 *
 *   _kiln_api_tokens(id text primary key     -- public id, to list and revoke by
 *                    hash text unique         -- SHA-256 of the secret, hex
 *                    user_row bigint          -- the users row's number
 *                    name text, created_at, expires_at (0: never), last_used_at bigint)
 *
 * (made by `tokensMigration`).
 *
 * The secret has 256 random bits, so an unsalted SHA-256 is enough: no dictionary or rainbow
 * table covers it, and a leaked table (or backup) gives nobody a working token. Every request
 * reads the row (joined with its user, see UsersService.checkToken), so a revoked token or a
 * disabled user is refused at once by every process.
 */
export class TokenStore {
  readonly #db: TokensDb;
  /** Token ids whose last use this process wrote lately (bounded). */
  readonly #noted = new Map<string, number>();

  constructor(db: Kysely<unknown>) {
    this.#db = db.withTables<TokensTables>();
  }

  /** Stores a new token for the users row number `userRow`; returns it with its secret. */
  async create(
    userRow: number,
    name: string,
    expiresIn: number | null,
    now = Date.now(),
  ): Promise<NewToken> {
    const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const id = newTokenId();
    const expires = expiresIn === null ? 0 : now + expiresIn;
    await this.#db
      .insertInto(TOKENS_TABLE)
      .values({
        id,
        hash: tokenHash(token),
        user_row: userRow,
        name,
        created_at: now,
        expires_at: expires,
        last_used_at: 0,
      })
      .execute();
    return { token, ...info({ id, name, created_at: now, expires_at: expires, last_used_at: 0 }) };
  }

  /** The user's tokens, newest first (expired ones included, marked by expiresAt). */
  async list(userRow: number): Promise<TokenInfo[]> {
    const rows = await this.#db
      .selectFrom(TOKENS_TABLE)
      .select(["id", "name", "created_at", "expires_at", "last_used_at"])
      .where("user_row", "=", userRow)
      .orderBy("created_at", "desc")
      .orderBy("id")
      .execute();
    return rows.map(info);
  }

  /** Deletes one token (of this user, when `userRow` is given); false when there was none. */
  async revoke(id: string, userRow?: number): Promise<boolean> {
    let query = this.#db.deleteFrom(TOKENS_TABLE).where("id", "=", id);
    if (userRow !== undefined) query = query.where("user_row", "=", userRow);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Deletes every token of a user; returns how many. */
  async revokeAll(userRow: number): Promise<number> {
    const result = await this.#db
      .deleteFrom(TOKENS_TABLE)
      .where("user_row", "=", userRow)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Deletes tokens expired more than a day ago (they can never work again). */
  async deleteExpired(now = Date.now()): Promise<void> {
    await this.#db
      .deleteFrom(TOKENS_TABLE)
      .where("expires_at", ">", 0)
      .where("expires_at", "<", now - 86_400_000)
      .execute();
  }

  /**
   * The query that finds a token and its user in one go: `usersTable` is the users data
   * table's physical name and `userColumns` the names the users table's rows are made from.
   * Compiled once; run with the token's hash as its one parameter.
   */
  compileLookup(usersTable: string, userColumns: readonly string[]): CompiledQuery {
    const u = (name: string) => sql.ref(`u.${name}`);
    return sql`select ${sql.join([u("id"), ...userColumns.map(u)])}, t.id as kiln_token_id, t.name as kiln_token_name, t.created_at as kiln_token_created, t.expires_at as kiln_token_expires, t.last_used_at as kiln_token_used from ${sql.table(TOKENS_TABLE)} t join ${sql.table(usersTable)} u on u.id = t.user_row where t.hash = ${""}`.compile(
      this.#db,
    );
  }

  /**
   * Records that token `id` was used now, at most once a minute: `lastUsed` is what the row
   * said, so a token already written by another process within the minute costs nothing, and
   * this process writes it once per minute whatever its request rate. Not awaited by requests.
   */
  noteUse(id: string, lastUsed: number, now: number): Promise<void> | undefined {
    if (now - lastUsed < LAST_USED_EVERY_MS) return undefined;
    const noted = this.#noted.get(id);
    if (noted !== undefined && now - noted < LAST_USED_EVERY_MS) return undefined;
    if (this.#noted.size >= 10_000) this.#noted.clear();
    this.#noted.set(id, now);
    return this.#db
      .updateTable(TOKENS_TABLE)
      .set({ last_used_at: now })
      .where("id", "=", id)
      .where("last_used_at", "<", now - LAST_USED_EVERY_MS)
      .execute()
      .then(() => undefined);
  }
}

/** A stored row as the app sees it (PostgreSQL returns bigint columns as strings). */
export function info(row: {
  id: string;
  name: string;
  created_at: number | string;
  expires_at: number | string;
  last_used_at: number | string;
}): TokenInfo {
  const expires = Number(row.expires_at);
  const used = Number(row.last_used_at);
  return {
    id: row.id,
    name: row.name,
    createdAt: new Date(Number(row.created_at)),
    expiresAt: expires > 0 ? new Date(expires) : null,
    lastUsedAt: used > 0 ? new Date(used) : null,
  };
}

/**
 * A token's public id: 9 random bytes in base64url (12 characters), never starting with "-",
 * which `kiln tokens revoke ID` would read as an option (1 id in 64 did).
 */
function newTokenId(): string {
  for (;;) {
    const id = randomBytes(9).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}
