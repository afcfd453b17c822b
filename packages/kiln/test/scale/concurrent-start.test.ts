import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgSchema, pgTestsEnabled } from "../support/pg.ts";
import { basic, call, SCALE_APP, type Served, serve, tempDir } from "./processes.ts";

/*
 * Several `kiln start` processes starting at the same moment on a fresh PostgreSQL schema, as
 * a deployment rolls out several machines at once: every one must come up, the schema must be
 * made once (the migration runs under an advisory lock, in one transaction), and a later
 * restart of them all with an added column must keep every row.
 */

const PROCESSES = 3;
const EMAIL = "mig@example.com";
const PASSWORD = "migrations keep data";

const runPg = await pgTestsEnabled();

describe.skipIf(!runPg)("postgres: several processes starting at once", () => {
  let folder: { dir: string; remove(): void };
  let app: string;
  const v1 = readFileSync(join(SCALE_APP, "kiln.yaml"), "utf8");
  let db: pg.Client;
  let env: Record<string, string>;
  let running: Served[] = [];
  let drop: () => Promise<void>;

  /** Starts PROCESSES processes at once, each with its own data folder; all must come up. */
  async function startAll(): Promise<Served[]> {
    running = await Promise.all(
      Array.from({ length: PROCESSES }, (_, i) =>
        serve({ app, data: join(folder.dir, `data-${i}`), env }),
      ),
    );
    return running;
  }

  async function stopAll(): Promise<void> {
    const codes = await Promise.all(running.map((served) => served.kiln.stop()));
    running = [];
    expect(codes).toEqual(Array(PROCESSES).fill(0));
  }

  /** How many transactions wrote the rows of a table (PostgreSQL's xmin: the writer's id). */
  async function writers(table: string, where = "true"): Promise<number> {
    const { rows } = await db.query(
      `select count(distinct xmin::text) as n from ${table} where ${where}`,
    );
    return Number(rows[0].n);
  }

  beforeAll(async () => {
    folder = tempDir("kiln-scale-migrate-");
    app = join(folder.dir, "app");
    const schema = await createPgSchema();
    drop = schema.drop;
    env = { DATABASE_URL: schema.url, KILN_SECRET: "shared by every process" };
    db = new pg.Client({ connectionString: schema.url });
    await db.connect();
    // The test's own copy of the scale app: kiln.yaml changes below, the endpoints do not.
    mkdirSync(app);
    writeFileSync(join(app, "kiln.yaml"), v1);
    symlinkSync(join(SCALE_APP, "server"), join(app, "server"), "dir");
  });

  afterAll(async () => {
    await Promise.all(running.map((served) => served.kiln.stop()));
    await db?.end();
    await drop?.();
    folder?.remove();
  });

  it("all come up on an empty schema, which one of them migrates in one transaction", async () => {
    const servers = await startAll();
    for (const { api } of servers) {
      expect((await call(api.replace(/\/_\/api$/, "/_/health"))).status).toBe(200);
    }
    const tables = await db.query("select name from _kiln_tables order by name");
    expect(tables.rows.map((r) => r.name)).toEqual(["notes", "users"]);
    // Every table and column was registered by a single transaction: one migration, not one
    // per process (a second attempt would have failed on the existing tables, and stopped
    // its process).
    expect(await writers("_kiln_tables")).toBe(1);
    expect(await writers("_kiln_columns")).toBe(1);
    // Kiln's own tables too: each system migration recorded once, by whichever came first.
    const migrations = await db.query("select name from _kiln_migrations order by name");
    expect(migrations.rows.map((r) => r.name)).toEqual([
      "sessions/1-create",
      "tables/1-metadata",
      "users/1-login-failures",
      "users/2-api-tokens",
    ]);

    // Rows written through every process.
    const [first, ...others] = servers;
    const signup = await call(`${first!.api}/signup`, {
      form: { email: EMAIL, password: PASSWORD },
    });
    expect(signup.status).toBe(200);
    for (const [i, { api }] of servers.entries()) {
      const note = await call(`${api}/notes`, {
        headers: basic(EMAIL, PASSWORD),
        form: { text: `note ${i}` },
      });
      expect(note.status).toBe(200);
    }
    expect(others.length).toBe(PROCESSES - 1);
    await stopAll();
  }, 90_000);

  it("a restart of them all with an added column and table keeps every row", async () => {
    const v2 = v1.replace(
      "    owner: link users\n",
      "    owner: link users\n    tag: text\n  labels:\n    name: text\n",
    );
    expect(v2).not.toBe(v1);
    writeFileSync(join(app, "kiln.yaml"), v2);
    const before = await db.query("select max(xmin::text::bigint) as x from _kiln_columns");

    const servers = await startAll();
    const expected = Array.from({ length: PROCESSES }, (_, i) => `note ${i}`);
    for (const { api } of servers) {
      const list = await call(`${api}/notes`, { headers: basic(EMAIL, PASSWORD) });
      expect(list.status).toBe(200);
      expect((list.body as string[]).sort()).toEqual(expected);
    }
    const notes = await db.query("select text, tag from data_notes order by text");
    expect(notes.rows).toEqual(expected.map((text) => ({ text, tag: null })));
    const tag = await db.query("select count(*) as n from _kiln_columns where name = 'tag'");
    expect(Number(tag.rows[0].n)).toBe(1);
    // The new column and the new table: added by one transaction, after the first migration.
    const added = `xmin::text::bigint > ${Number(before.rows[0].x)}`;
    expect(await writers("_kiln_columns", added)).toBe(1);
    expect(await writers("_kiln_tables", added)).toBe(1);
    await stopAll();
  }, 90_000);
});
