import { hash } from "node:crypto";
import { type Kysely, sql } from "kysely";
import { adoptIndex, adoptTable, type SystemMigration } from "../tables/system-migrations.ts";

/** A stored session, as the pipeline sees it (times in Unix milliseconds). */
export interface SessionRecord {
  data: Record<string, unknown>;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

/**
 * Where sessions live. Rows are keyed by a hash of the session token, never the token itself,
 * so a leaked database (or backup) gives nobody a live session.
 */
export interface SessionStore {
  /** The live session for `token`, or null (unknown or expired at `now`). */
  load(token: string, now: number): Promise<SessionRecord | null>;
  /** Stores a new session under a fresh `token`. */
  create(token: string, record: SessionRecord): Promise<void>;
  /**
   * Rewrites an existing session's data and times. Returns false (and writes nothing) when the
   * session is gone, or when `expected` is given and the stored data is no longer that (another
   * request saved meanwhile): a concurrent logout must not be undone by a slower request's save.
   */
  update(
    token: string,
    record: SessionRecord,
    expected?: Record<string, unknown>,
  ): Promise<boolean>;
  /** Records activity without rewriting the data. */
  touch(token: string, lastSeenAt: number, expiresAt: number): Promise<void>;
  /**
   * Deletes a session; true when there was one to delete. With `expected`, only if the stored
   * data is still that (as for `update`).
   */
  delete(token: string, expected?: Record<string, unknown>): Promise<boolean>;
  /** Deletes every session expired at `now`; returns how many. */
  deleteExpired(now: number): Promise<number>;
  /** How many sessions are stored, expired ones included (for tests and the CLI). */
  count(): Promise<number>;
}

export const SESSIONS_TABLE = "_kiln_sessions";

// A type literal, not an interface: withTables takes a record of tables, and only a type
// literal stands in for an index signature.
type SessionsTable = {
  _kiln_sessions: {
    id: string;
    data: string;
    created_at: number | string | bigint;
    last_seen_at: number | string | bigint;
    expires_at: number | string | bigint;
  };
};

/**
 * The sessions table, on SQLite and PostgreSQL alike (run by the cookies service on start):
 *
 *   _kiln_sessions(id text primary key  -- SHA-256 of the token, base64url
 *                  data text            -- the session's key/value data as JSON
 *                  created_at, last_seen_at, expires_at bigint)  -- Unix ms
 *   index _kiln_sessions_expires_at on (expires_at), for the cleanup
 *
 * Kiln 0.1 named it `kiln_sessions`: such a table is renamed, its sessions kept.
 */
export const sessionsMigrations: readonly SystemMigration[] = [
  {
    name: "sessions/1-create",
    up: async (dialect) => {
      await adoptTable(dialect, "kiln_sessions", SESSIONS_TABLE);
      await dialect.db.schema
        .createTable(SESSIONS_TABLE)
        .ifNotExists()
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("data", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("last_seen_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .execute();
      await adoptIndex(dialect, "kiln_sessions_expires_at", {
        name: `${SESSIONS_TABLE}_expires_at`,
        table: SESSIONS_TABLE,
        column: "expires_at",
      });
    },
  },
];

/** The session store on a Kysely database (the app's own, shared by every process). */
export class KyselySessionStore implements SessionStore {
  readonly #db: Kysely<SessionsTable>;

  constructor(db: Kysely<unknown>) {
    this.#db = db.withTables<SessionsTable>();
  }

  /** The stored row ids (token hashes), for tests that check what is at rest. */
  async ids(): Promise<string[]> {
    const rows = await this.#db.selectFrom(SESSIONS_TABLE).select("id").execute();
    return rows.map((row) => row.id);
  }

  async load(token: string, now: number): Promise<SessionRecord | null> {
    const row = await this.#db
      .selectFrom(SESSIONS_TABLE)
      .select(["data", "created_at", "last_seen_at", "expires_at"])
      .where("id", "=", tokenHash(token))
      .executeTakeFirst();
    if (!row || Number(row.expires_at) <= now) return null;
    let data: unknown;
    try {
      data = JSON.parse(row.data);
    } catch {
      return null;
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
    return {
      data: data as Record<string, unknown>,
      createdAt: Number(row.created_at),
      lastSeenAt: Number(row.last_seen_at),
      expiresAt: Number(row.expires_at),
    };
  }

  async create(token: string, record: SessionRecord): Promise<void> {
    await this.#db
      .insertInto(SESSIONS_TABLE)
      .values({
        id: tokenHash(token),
        data: JSON.stringify(record.data),
        created_at: record.createdAt,
        last_seen_at: record.lastSeenAt,
        expires_at: record.expiresAt,
      })
      .execute();
  }

  async update(
    token: string,
    record: SessionRecord,
    expected?: Record<string, unknown>,
  ): Promise<boolean> {
    let query = this.#db
      .updateTable(SESSIONS_TABLE)
      .set({
        data: JSON.stringify(record.data),
        last_seen_at: record.lastSeenAt,
        expires_at: record.expiresAt,
      })
      .where("id", "=", tokenHash(token));
    // The stored text is the version: it was written by JSON.stringify of data that went
    // through JSON.parse, so the same data always has the same text.
    if (expected) query = query.where("data", "=", JSON.stringify(expected));
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async touch(token: string, lastSeenAt: number, expiresAt: number): Promise<void> {
    await this.#db
      .updateTable(SESSIONS_TABLE)
      .set({ last_seen_at: lastSeenAt, expires_at: expiresAt })
      .where("id", "=", tokenHash(token))
      .execute();
  }

  async delete(token: string, expected?: Record<string, unknown>): Promise<boolean> {
    let query = this.#db.deleteFrom(SESSIONS_TABLE).where("id", "=", tokenHash(token));
    if (expected) query = query.where("data", "=", JSON.stringify(expected));
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Deletes every session whose data holds `value` under `key` (a removed user's logins);
   * returns how many. The text match only narrows the rows read: the parsed data decides.
   */
  async deleteWithData(key: string, value: string): Promise<number> {
    const needle = `%${JSON.stringify(value).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await this.#db
      .selectFrom(SESSIONS_TABLE)
      .select(["id", "data"])
      .where(sql<boolean>`data like ${needle} escape '\\'`)
      .execute();
    const ids = rows.filter((row) => holds(row.data, key, value)).map((row) => row.id);
    if (ids.length === 0) return 0;
    const result = await this.#db
      .deleteFrom(SESSIONS_TABLE)
      .where("id", "in", ids)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpired(now: number): Promise<number> {
    const result = await this.#db
      .deleteFrom(SESSIONS_TABLE)
      .where("expires_at", "<=", now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async count(): Promise<number> {
    const row = await this.#db
      .selectFrom(SESSIONS_TABLE)
      .select(sql<number>`count(*)`.as("n"))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}

/** Whether stored session data (JSON text) has `value` under `key`. */
function holds(text: string, key: string, value: string): boolean {
  try {
    const data = JSON.parse(text) as Record<string, unknown> | null;
    return typeof data === "object" && data !== null && data[key] === value;
  } catch {
    return false;
  }
}

/** The row id of a session token: SHA-256, base64url. A fast hash suffices: tokens are 256 random bits. */
export function tokenHash(token: string): string {
  return hash("sha256", token, "base64url");
}
