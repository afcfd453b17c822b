import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { builtInTables } from "../../src/app/built-in-tables.ts";
import { q, type Row, type TablesAccessor } from "../../src/index.ts";
import { openTables, type TablesService } from "../../src/tables/index.ts";
import { FIXTURE_TABLES } from "../fixtures/links-0.1-tables.ts";
import { type TestDatabase, type TestDialect, testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** A database of the dialect holding the fixture's tables and rows, as 0.1 left them. */
async function oldDatabase(dialect: TestDialect): Promise<TestDatabase> {
  const database = await dialect.freshDatabase();
  if (dialect.name === "sqlite") {
    copyFileSync(fixture("links-0.1.sqlite"), join(database.dataDir, "app.db"));
    return database;
  }
  const client = new pg.Client({ connectionString: database.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query("select current_schema() as schema");
    const dump = readFileSync(fixture("links-0.1.pg.sql"), "utf8");
    await client.query(dump.replaceAll("kiln_fixture.", `"${rows[0].schema}".`));
  } finally {
    await client.end();
  }
  return database;
}

const names = (row: Row | null, column: string) =>
  ((row![column] as Row[]) ?? []).map((r) => (r.name ?? r.email ?? r.title) as string);

/** Every article as [id, title, author, tags, fans, related, picks]. */
async function articles(tables: TablesAccessor): Promise<unknown[][]> {
  const all = await tables.articles.search().toArray();
  return all.map((r) => [
    r.id,
    r.title,
    (r.author as Row | null)?.email ?? null,
    names(r, "tags"),
    names(r, "fans"),
    names(r, "related"),
    names(r, "picks"),
  ]);
}

// What the fixture holds, read through 0.1's rules: tag c was deleted (lists leave it out),
// article 10 too (a gap in the ids), and article 2's list named tag d twice (kept once, at its
// first place).
const EXPECTED = [
  [
    "[2,1]",
    "article 0",
    "ann@example.com",
    ["a", "b"],
    ["di@example.com", "ann@example.com"],
    [],
    ["d", "a"],
  ],
  ["[2,2]", "article 1", "bob@example.com", ["b"], [], ["article 7", "article 0", "article 1"], []],
  ["[2,3]", "article 2", "cy@example.com", ["d", "a"], [], [], []],
  [
    "[2,4]",
    "article 3",
    "di@example.com",
    ["e", "d", "b", "a"],
    ["di@example.com", "ann@example.com"],
    [],
    [],
  ],
  ["[2,5]", "article 4", "ann@example.com", ["e"], [], [], []],
  [
    "[2,6]",
    "article 5",
    "bob@example.com",
    ["b"],
    ["cy@example.com", "bob@example.com"],
    [],
    ["d", "a"],
  ],
  ["[2,7]", "article 6", "cy@example.com", [], ["di@example.com", "ann@example.com"], [], []],
  ["[2,8]", "article 7", "di@example.com", ["e", "d", "b", "a"], [], [], []],
  ["[2,9]", "article 8", "ann@example.com", ["a", "b"], [], [], []],
  ["[2,10]", "article 9", "bob@example.com", ["b"], ["di@example.com", "ann@example.com"], [], []],
  ["[2,12]", "article 11", "di@example.com", [], [], [], []],
];

async function layout(service: TablesService) {
  const tableId = service.table("articles").tableId;
  const inRow = [];
  const joinTables = [];
  for (const column of ["tags", "fans", "related", "picks"]) {
    const query =
      service.dialectName === "sqlite"
        ? sql`select name from pragma_table_info(${"data_articles"}) where name = ${column}`
        : sql`select column_name from information_schema.columns where table_schema = current_schema() and table_name = 'data_articles' and column_name = ${column}`;
    if ((await query.execute(service.db)).rows.length) inRow.push(column);
    const { rows } = await sql<{
      n: unknown;
    }>`select count(*) as n from ${sql.table(`_kiln_links_${tableId}_${column}`)}`.execute(
      service.db,
    );
    joinTables.push(Number(rows[0]!.n));
  }
  return { inRow, joinTables };
}

interface LogLine {
  change?: string;
  column?: string;
  msg: string;
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: a database made by 0.1 moves its links to join tables`, () => {
    it("keeps every row, id, link and link order; a second start changes nothing", async () => {
      const database = await oldDatabase(dialect);
      const logs: LogLine[] = [];
      const first = await tablesApp(dialect, FIXTURE_TABLES, { database, logs, logLevel: "info" });
      const changes = logs.filter((l) => l.change !== undefined);
      expect(changes.every((l) => l.change === "moved-links")).toBe(true);
      expect(changes.map((l) => l.column).sort()).toEqual(["fans", "picks", "related", "tags"]);
      expect(changes.find((l) => l.column === "tags")?.msg).toBe(
        'table "articles": moved the links of "tags" to a join table (_kiln_links_2_tags), indexed both ways',
      );
      expect(await layout(first.service)).toEqual({ inRow: [], joinTables: [18, 10, 3, 4] });
      expect(await articles(first.tables)).toEqual(EXPECTED);
      expect((await first.tables.tags.search().toArray()).map((t) => [t.id, t.name])).toEqual([
        ["[1,1]", "a"],
        ["[1,2]", "b"],
        ["[1,4]", "d"],
        ["[1,5]", "e"],
      ]);

      logs.length = 0;
      const second = await first.reopen(FIXTURE_TABLES);
      expect(logs.filter((l) => l.change !== undefined)).toEqual([]);
      expect(await layout(second.service)).toEqual({ inRow: [], joinTables: [18, 10, 3, 4] });
      expect(await articles(second.tables)).toEqual(EXPECTED);

      // Searches, counts and changes work on the moved links.
      const { tables } = second;
      const [a, , d] = await tables.tags.search().toArray();
      const ann = await tables.users.get({ email: "ann@example.com" });
      const titles = async (filters: unknown) =>
        (await tables.articles.search(filters as never).toArray()).map((r) => r.title);
      expect(await titles({ tags: a })).toEqual([
        "article 0",
        "article 2",
        "article 3",
        "article 7",
        "article 8",
      ]);
      expect(await titles({ fans: ann, tags: q.anyOf(d, a) })).toEqual(["article 0", "article 3"]);
      expect(await titles({ tags: null })).toEqual(["article 6", "article 11"]);
      const first0 = (await tables.articles.get({ title: "article 0" }))!;
      expect(await tables.articles.countLinks(first0, "tags")).toBe(2);
      await tables.articles.addLink(first0, "tags", d!);
      expect(names(await tables.articles.getById(first0.id), "tags")).toEqual(["a", "b", "d"]);
      // New rows take ids after the old ones.
      expect((await tables.articles.addRow({ title: "new", tags: [d!] })).id).toBe("[2,13]");
    });
  });

  describe(`${dialect.name}: migrate --apply on links columns`, () => {
    it("converts link <-> links, drops links columns and tables, and the join tables follow", async () => {
      const before = {
        tags: { name: "text" },
        posts: { title: "text", main: "link tags", list: "links tags", other: "links tags" },
        gone: { tags: "links tags" },
      };
      const first = await tablesApp(dialect, before);
      const [x, y, z] = await first.tables.tags.addRows([
        { name: "x" },
        { name: "y" },
        { name: "z" },
      ]);
      const p1 = await first.tables.posts.addRow({
        title: "1",
        main: x,
        list: [y!, x!],
        other: [z!],
      });
      const p2 = await first.tables.posts.addRow({ title: "2", list: [], other: [x!] });
      await first.tables.gone.addRow({ tags: [x!] });
      await first.app.close();
      const after = {
        tags: { name: "text" },
        posts: { title: "text", main: "links tags", list: "link tags" },
      };
      const options = {
        builtIns: builtInTables,
        dataDir: first.database.dataDir,
        databaseUrl: first.database.databaseUrl,
        tables: after,
      };
      const applied = await openTables({ ...options, apply: true });
      expect(applied.migration.pending).toEqual([]);
      const posts = applied.tables.posts;
      const read = async (row: Row) => {
        const r = (await posts.getById(row.id))!;
        return [names(r, "main"), (r.list as Row | null)?.name ?? null];
      };
      expect(await read(p1)).toEqual([["x"], "y"]);
      expect(await read(p2)).toEqual([[], null]);
      expect(await posts.search({ main: x }).count()).toBe(1);
      expect(await posts.search({ list: y }).count()).toBe(1);
      await applied.tables.tags.getById(x!.id).then((r) => r!.delete());
      expect(await read(p1)).toEqual([[], "y"]);
      await applied.close();
      // Declared again, the dropped column and table start empty.
      const again = await openTables({
        ...options,
        tables: { ...after, posts: { ...after.posts, other: "links tags" }, gone: before.gone },
      });
      expect((await again.tables.posts.getById(p1.id))!.other).toEqual([]);
      expect(await again.tables.gone.search().count()).toBe(0);
      await again.tables.posts.addLink(p1, "other", z!);
      expect(await again.tables.posts.countLinks(p1, "other")).toBe(1);
      await again.close();
    });
  });
}
