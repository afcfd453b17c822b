/**
 * What a deployment decides about each database, resolved once from the environment by
 * app/resolve-config.ts. Kept apart from the dialects so that these types reach Kiln's
 * published declarations without the drivers' own types (an app need not install
 * @types/better-sqlite3 or @types/pg to type-check).
 */

/** What the deployment decides about SQLite (app/resolve-config.ts reads it from the environment). */
export interface SqliteSettings {
  /**
   * What a returned write promises. FULL (Kiln's default): the commit is flushed to disk
   * before it returns, so it survives a process crash and a power cut. NORMAL
   * (`KILN_SQLITE_SYNCHRONOUS=normal`): it survives a process crash (it is in the WAL file in
   * the OS's cache) but the last commits may be lost if the machine itself stops; writes are
   * about ten times faster on a disk with slow fsync.
   */
  readonly synchronous: "FULL" | "NORMAL";
}

export const DEFAULT_SQLITE_SETTINGS: SqliteSettings = { synchronous: "FULL" };

/** What the deployment decides about PostgreSQL (app/resolve-config.ts reads it from the environment). */
export interface PostgresSettings {
  /**
   * Connections each process may open (`KILN_PG_POOL_SIZE`, default 10, pg's own default).
   * Every process has its own pool, so processes × this must stay under the server's
   * max_connections (docs/deployment.md, "Scaling out").
   */
  readonly poolSize: number;
  /**
   * How long a query waits for a connection, a new one or a free one from the pool
   * (`KILN_PG_CONNECT_TIMEOUT_MS`, default 10 s). Past it the query fails with
   * KILN_DATABASE_UNAVAILABLE (a 503 from an endpoint).
   */
  readonly connectTimeoutMs: number;
  /** The role libpq uses when DATABASE_URL names none (`USER`), for connection-error messages. */
  readonly defaultUser: string;
}

export const DEFAULT_POSTGRES_SETTINGS: PostgresSettings = {
  poolSize: 10,
  connectTimeoutMs: 10_000,
  defaultUser: "postgres",
};
