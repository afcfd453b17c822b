import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { q, type Row } from "../../src/index.ts";
import type { TablesService } from "../../src/tables/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const SCHEMA = { articles: { title: "text", tags: "links tags" }, tags: { name: "text" } };

/** What indexes "links contains X" on this backend, as names in the database. */
async function linksIndexObjects(service: TablesService): Promise<string[]> {
  const tableId = service.table("articles").tableId;
  if (service.dialectName === "sqlite") {
    const { rows } = await sql<{
      name: string;
    }>`select name from sqlite_master where name like ${`_kiln_links_${tableId}_tags%`} order by name`.execute(
      service.db,
    );
    return rows.map((r) => r.name);
  }
  const { rows } = await sql<{
    indexname: string;
  }>`select indexname from pg_indexes where schemaname = current_schema() and indexname = ${`ix_${tableId}_tags`} and indexdef like '%gin%'`.execute(
    service.db,
  );
  return rows.map((r) => r.indexname);
}

/** The (row, linked row) pairs SQLite keeps for the index, sorted. */
async function pairs(service: TablesService): Promise<number[][]> {
  const name = `_kiln_links_${service.table("articles").tableId}_tags`;
  const { rows } = await sql<{
    row_id: number;
    target_id: number;
  }>`select row_id, target_id from ${sql.table(name)} order by row_id, target_id`.execute(
    service.db,
  );
  return rows.map((r) => [r.row_id, r.target_id]);
}

const rowId = (row: Row) => JSON.parse(row.id)[1] as number;

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: "links contains X" is indexed`, () => {
    it("the index follows every write path", async () => {
      const { service, tables } = await tablesApp(dialect, SCHEMA);
      expect((await linksIndexObjects(service)).length).toBeGreaterThan(0);
      const [x, y, z] = await tables.tags.addRows([{ name: "x" }, { name: "y" }, { name: "z" }]);
      const a = await tables.articles.addRow({ title: "a", tags: [x!, y!] });
      const [b, c] = await tables.articles.addRows([{ title: "b", tags: [y!] }, { title: "c" }]);
      await c!.update({ tags: [z!, x!] });
      await tables.articles.addLink(b!, "tags", z!);
      await tables.articles.removeLink(a, "tags", y!);
      const titles = async (filters: unknown) =>
        (await tables.articles.search(filters as never).toArray()).map((r) => r.title);
      expect(await titles({ tags: x })).toEqual(["a", "c"]);
      expect(await titles({ tags: y })).toEqual(["b"]);
      expect(await titles({ tags: z })).toEqual(["b", "c"]);
      expect(await titles({ tags: q.anyOf(y, z) })).toEqual(["b", "c"]);
      expect(await titles({ tags: q.noneOf(x) })).toEqual(["b"]);
      expect(await titles({ tags: [x!, z!] })).toEqual(["c"]);
      await b!.update({ tags: null });
      expect(await titles({ tags: z })).toEqual(["c"]);
      if (dialect.name === "sqlite") {
        const [ra, rc] = [rowId(a), rowId(c!)];
        const [rx, rz] = [rowId(x!), rowId(z!)];
        expect(await pairs(service)).toEqual([
          [ra, rx],
          [rc, rx],
          [rc, rz],
        ]);
        await c!.delete();
        expect(await pairs(service)).toEqual([[ra, rx]]);
        await tables.articles.deleteAllRows();
        expect(await pairs(service)).toEqual([]);
      }
    });

    it("a database made before the index gets it on start, keeping every list and id", async () => {
      const first = await tablesApp(dialect, SCHEMA);
      const tags = await first.tables.tags.addRows([{ name: "x" }, { name: "y" }]);
      const articles = await first.tables.articles.addRows(
        Array.from({ length: 30 }, (_, i) => ({
          title: `a${i}`,
          tags: i % 3 === 0 ? [tags[1]!, tags[0]!] : i % 3 === 1 ? [tags[0]!] : [],
        })),
      );
      // Back to the layout 0.1 made: the JSON lists only, with no pairs table or triggers
      // on SQLite and no index on PostgreSQL (0.1 made one only with index: true).
      const db = first.service.db;
      for (const name of await linksIndexObjects(first.service)) {
        if (dialect.name === "postgres") await sql`drop index ${sql.id(name)}`.execute(db);
        else if (name.endsWith("_insert") || name.endsWith("_update") || name.endsWith("_delete"))
          await sql`drop trigger ${sql.id(name)}`.execute(db);
      }
      if (dialect.name === "sqlite") {
        const tableId = first.service.table("articles").tableId;
        await sql`drop table ${sql.table(`_kiln_links_${tableId}_tags`)}`.execute(db);
      }
      expect(await linksIndexObjects(first.service)).toEqual([]);

      const { service, tables } = await first.reopen(SCHEMA);
      expect((await linksIndexObjects(service)).length).toBeGreaterThan(0);
      const withX = await tables.articles.search({ tags: tags[0]! }).toArray();
      expect(withX.map((r) => r.id)).toEqual(
        articles.filter((_, i) => i % 3 !== 2).map((r) => r.id),
      );
      expect(await tables.articles.search({ tags: tags[1]! }).count()).toBe(10);
      const first0 = (await tables.articles.getById(articles[0]!.id))!;
      expect((first0.tags as Row[]).map((t) => t.name)).toEqual(["y", "x"]);
      if (dialect.name === "sqlite") expect((await pairs(service)).length).toBe(30);
    });
  });
}
