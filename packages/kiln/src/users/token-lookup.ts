import type { CompiledQuery, QueryResult } from "kysely";
import type { Dialect } from "../tables/dialect.ts";
import { physicalTable } from "../tables/names.ts";
import type { Row } from "../tables/types.ts";
import { type TokenInfo, type TokenStore, tokenHash } from "./tokens.ts";

/** A token found with its user (any user: the caller checks `enabled` and expiry). */
export interface FoundToken {
  user: Row;
  token: TokenInfo;
  /** Unix ms; 0: never. */
  expiresAt: number;
  /** Unix ms; 0: never used. */
  lastUsedAt: number;
}

/** The users data table, as far as the lookup needs it (tables/table.ts). */
export interface UsersTableLike {
  /** The columns in its own row (a `links` column is a join table of its own). */
  readonly rowColumns: readonly string[];
  loadRows(raws: readonly Record<string, unknown>[]): Row[] | Promise<Row[]>;
}

/** The tables service, as far as the lookup needs it (tables/service.ts). */
export interface TokenTablesLike {
  readonly dialect: Dialect;
  mapError(error: unknown, table: never): Error;
}

/**
 * Finds a token's row and its user's row in one indexed query (a join on the users data
 * table), compiled once: a request with a token costs one query, as one with remembered Basic
 * credentials does. On SQLite it runs synchronously when the connection is free.
 */
export function tokenLookup(
  tokens: TokenStore,
  tables: TokenTablesLike,
  users: UsersTableLike,
): (token: string) => Promise<FoundToken | null> {
  let compiled: CompiledQuery | null = null;
  const toFound = async (result: QueryResult<unknown>): Promise<FoundToken | null> => {
    const raw = result.rows[0] as Record<string, unknown> | undefined;
    if (!raw) return null;
    const made = users.loadRows([raw]);
    const [user] = made instanceof Promise ? await made : made;
    const expiresAt = Number(raw.kiln_token_expires);
    const lastUsedAt = Number(raw.kiln_token_used);
    return {
      user: user!,
      expiresAt,
      lastUsedAt,
      token: {
        id: String(raw.kiln_token_id),
        name: String(raw.kiln_token_name),
        createdAt: new Date(Number(raw.kiln_token_created)),
        expiresAt: expiresAt > 0 ? new Date(expiresAt) : null,
        lastUsedAt: lastUsedAt > 0 ? new Date(lastUsedAt) : null,
      },
    };
  };
  return async (token) => {
    compiled ??= tokens.compileLookup(physicalTable("users"), users.rowColumns);
    const query = { ...compiled, parameters: [tokenHash(token)] };
    try {
      const now = tables.dialect.executeNow(query);
      return await toFound(now ?? (await tables.dialect.execute(query)));
    } catch (error) {
      // The same errors as any table query: an outage is a 503 (KILN_DATABASE_UNAVAILABLE).
      throw tables.mapError(error, users as never);
    }
  };
}
