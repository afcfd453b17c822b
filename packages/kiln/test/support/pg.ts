import { randomBytes } from "node:crypto";
import pg from "pg";
import { noticeOnce } from "./notice.ts";

/** The PostgreSQL server the tests use (trust auth, database `test`); KILN_TEST_PG_URL overrides. */
export const PG_URL = process.env.KILN_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

let available: Promise<boolean> | undefined;

/**
 * Whether the PostgreSQL tests run, from KILN_TEST_PG:
 * - `required` (or `1`): they must; an unreachable server fails loudly (throws);
 * - `0`: they are skipped;
 * - unset (or empty): they run if the server answers within about a second, else are skipped
 *   with one line saying so (once per test run, not once per file);
 * - anything else is a mistake, and throws rather than guess.
 * `.ci/run` sets `required` whatever the environment says.
 * @example const runPg = await pgTestsEnabled();
 */
export function pgTestsEnabled(): Promise<boolean> {
  available ??= decide();
  return available;
}

async function decide(): Promise<boolean> {
  const mode = process.env.KILN_TEST_PG ?? "";
  if (!["", "0", "1", "required"].includes(mode)) {
    throw new Error(
      `KILN_TEST_PG=${mode} is not understood: use required (or 1), 0, or leave it unset`,
    );
  }
  if (mode === "0") return false;
  const reachable = await canConnect();
  if (reachable) return true;
  if (mode === "required" || mode === "1") {
    throw new Error(
      `KILN_TEST_PG=${mode} but PostgreSQL is unreachable at ${PG_URL}: start it, or unset KILN_TEST_PG to skip the PostgreSQL tests`,
    );
  }
  noticeOnce(
    "pg",
    `PostgreSQL tests skipped: no server answered at ${PG_URL} within 1s (set KILN_TEST_PG=required to insist)`,
  );
  return false;
}

async function canConnect(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A fresh PostgreSQL schema for one test (or suite), so that runs never see each other's
 * tables: its URL sets `search_path` on every connection. `drop()` removes it and everything in it.
 * @example const { url, drop } = await createPgSchema(); ...; await drop();
 */
export async function createPgSchema(): Promise<{
  url: string;
  schema: string;
  drop(): Promise<void>;
}> {
  const schema = `kiln_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(`create schema ${schema}`);
  const url = `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  return { url, schema, drop: () => adminQuery(`drop schema if exists ${schema} cascade`) };
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
