import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { ensureSessionsTable } from "../../src/cookies/session-store.ts";
import { GuessingDefence } from "../../src/users/guessing-defence.ts";
import { DEFAULT_GUESSING } from "../../src/users/users-config.ts";
import { createPgSchema, pgTestsEnabled } from "../support/pg.ts";

/*
 * The services' own tables (sessions, login failures) are created on start outside the tables
 * migration, with CREATE ... IF NOT EXISTS. On PostgreSQL, processes doing that at the same
 * moment race: each sees no table, and all but one fail on the catalogue's unique index. Each
 * connection here plays one process starting; every one must succeed.
 */

const PROCESSES = 6;
const runPg = await pgTestsEnabled();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One Kysely (one connection) per simulated process, all connected before the race starts. */
async function processes(): Promise<Kysely<unknown>[]> {
  const { url, drop } = await createPgSchema();
  const dbs = Array.from(
    { length: PROCESSES },
    () =>
      new Kysely<unknown>({
        dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
      }),
  );
  cleanups.push(drop, async () => {
    await Promise.all(dbs.map((db) => db.destroy()));
  });
  await Promise.all(dbs.map((db) => db.selectNoFrom((eb) => eb.lit(1).as("ready")).execute()));
  return dbs;
}

describe.skipIf(!runPg)("postgres: internal tables made by processes starting together", () => {
  it("every process gets the sessions table", async () => {
    const results = await Promise.allSettled((await processes()).map(ensureSessionsTable));
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
  });

  it("every process gets the login failures table", async () => {
    const results = await Promise.allSettled(
      (await processes()).map((db) => new GuessingDefence(db, DEFAULT_GUESSING).ensureTable()),
    );
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
  });
});
