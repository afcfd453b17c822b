import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { builtInTables } from "../../src/app/built-in-tables.ts";
import { resolveConfig } from "../../src/app/resolve-config.ts";
import { openTables } from "../../src/tables/index.ts";
import { createPgSchema, PG_URL, pgTestsEnabled } from "../support/pg.ts";

/*
 * Each process holds its own pool of PostgreSQL connections, so processes × pool size must stay
 * under the server's max_connections: KILN_PG_POOL_SIZE is the knob (docs/deployment.md, "Scaling out").
 */

const runPg = await pgTestsEnabled();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The connections the server has open for this application_name. */
async function connections(name: string): Promise<number> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query(
      "select count(*) as n from pg_stat_activity where application_name = $1",
      [name],
    );
    return Number(rows[0].n);
  } finally {
    await client.end();
  }
}

describe.skipIf(!runPg)("postgres: connections per process", () => {
  it("KILN_PG_POOL_SIZE caps the connections one process opens, however busy it is", async () => {
    const { url, drop } = await createPgSchema();
    cleanups.push(drop);
    const name = `kiln_pool_${randomBytes(4).toString("hex")}`;
    const tables = await openTables({
      builtIns: builtInTables,
      dataDir: null,
      databaseUrl: `${url}&application_name=${name}`,
      postgres: resolveConfig({ env: { KILN_PG_POOL_SIZE: "3" } }).postgres,
    });
    cleanups.push(() => tables.close());

    const busy = Promise.all(
      Array.from({ length: 12 }, () => sql`select pg_sleep(0.3)`.execute(tables.db)),
    );
    await new Promise((wait) => setTimeout(wait, 150));
    expect(await connections(name)).toBe(3);
    await busy;
  });

  it("a KILN_PG_POOL_SIZE that is not a whole number is a clear start-up error", () => {
    expect(() => resolveConfig({ env: { KILN_PG_POOL_SIZE: "ten" } })).toThrow(
      expect.objectContaining({
        code: "KILN_BAD_CONFIG",
        message:
          'KILN_PG_POOL_SIZE must be a whole number of connections from 1 to 10000, got "ten"',
      }),
    );
  });
});
