import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { q, type Row } from "../../src/index.ts";
import type { TablesService } from "../../src/tables/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const SCHEMA = { articles: { title: "text", tags: "links tags" }, tags: { name: "text" } };

const rowId = (row: Row) => JSON.parse(row.id)[1] as number;

/** The join table of articles.tags: [row, linked row, position], in list order. */
async function linkRows(service: TablesService): Promise<number[][]> {
  const name = `_kiln_links_${service.table("articles").tableId}_tags`;
  const { rows } = await sql<{
    row_id: number;
    target_id: number;
    position: number;
  }>`select row_id, target_id, position from ${sql.table(name)} order by row_id, position`.execute(
    service.db,
  );
  return rows.map((r) => [Number(r.row_id), Number(r.target_id), Number(r.position)]);
}

/** The indexes of the join table, by the columns they start with. */
async function indexedColumns(service: TablesService): Promise<string[]> {
  const name = `_kiln_links_${service.table("articles").tableId}_tags`;
  if (service.dialectName === "sqlite") {
    const { rows } = await sql<{
      sql: string | null;
      name: string;
    }>`select name, sql from sqlite_master where type = 'index' and tbl_name = ${name}`.execute(
      service.db,
    );
    // A without-rowid table's primary key is the table itself: its index has no SQL.
    const { rows: table } = await sql<{
      sql: string;
    }>`select sql from sqlite_master where type = 'table' and name = ${name}`.execute(service.db);
    const pk = /primary key \((\w+)/.exec(table[0]!.sql)![1]!;
    return [pk, ...rows.filter((r) => r.sql).map((r) => /\((\w+)/.exec(r.sql!)![1]!)].sort();
  }
  const { rows } = await sql<{
    indexdef: string;
  }>`select indexdef from pg_indexes where schemaname = current_schema() and tablename = ${name}`.execute(
    service.db,
  );
  return rows.map((r) => /\((\w+)/.exec(r.indexdef)![1]!).sort();
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: links are stored in a join table`, () => {
    it("indexed by row and by linked row; every write path keeps it, positions in list order", async () => {
      const { service, tables } = await tablesApp(dialect, SCHEMA);
      expect(await indexedColumns(service)).toEqual(["row_id", "target_id"]);
      const [x, y, z] = await tables.tags.addRows([{ name: "x" }, { name: "y" }, { name: "z" }]);
      const [rx, ry, rz] = [rowId(x!), rowId(y!), rowId(z!)];
      const a = await tables.articles.addRow({ title: "a", tags: [y!, x!, y!] });
      const [b, c] = await tables.articles.addRows([{ title: "b", tags: [y!] }, { title: "c" }]);
      const [ra, rb, rc] = [rowId(a), rowId(b!), rowId(c!)];
      expect(a.tags).toEqual([y, x]);
      expect(await linkRows(service)).toEqual([
        [ra, ry, 1],
        [ra, rx, 2],
        [rb, ry, 1],
      ]);
      await c!.update({ tags: [z!, x!] });
      await tables.articles.addLink(b!, "tags", z!);
      await tables.articles.removeLink(a, "tags", y!);
      expect(await linkRows(service)).toEqual([
        [ra, rx, 2],
        [rb, ry, 1],
        [rb, rz, 2],
        [rc, rz, 1],
        [rc, rx, 2],
      ]);
      const titles = async (filters: unknown) =>
        (await tables.articles.search(filters as never).toArray()).map((r) => r.title);
      expect(await titles({ tags: x })).toEqual(["a", "c"]);
      expect(await titles({ tags: z })).toEqual(["b", "c"]);
      expect(await titles({ tags: q.anyOf(y, z) })).toEqual(["b", "c"]);
      // Any number of rows: one lookup of the join table, whatever their number.
      const many = Array.from({ length: 70_000 }, (_, i) => [y!, z!][i % 2]!);
      expect(await titles({ tags: q.anyOf(...many) })).toEqual(["b", "c"]);
      expect(await titles({ tags: q.anyOf(...many, [x!, z!], null) })).toEqual(["b", "c"]);
      expect(await titles({ tags: q.noneOf(...many) })).toEqual(["a"]);
      expect(await titles({ tags: q.noneOf(x) })).toEqual(["b"]);
      expect(await titles({ tags: [x!, z!] })).toEqual(["c"]);
      // "Contains this row" beside equalities, counted and paged (SQL kept per shape).
      expect(await titles({ title: "c", tags: x })).toEqual(["c"]);
      expect(await tables.articles.search({ tags: x }).count()).toBe(2);
      expect(await tables.articles.search({ tags: y, title: "c" }).count()).toBe(0);
      expect(await tables.articles.search({ tags: x }, { offset: 1 }).toPage()).toMatchObject({
        rows: [{ title: "c" }],
        total: 2,
      });
      await b!.update({ tags: null });
      expect(await titles({ tags: null })).toEqual(["b"]);
      // Deleting a row takes its links, and the links to it, with it.
      await z!.delete();
      expect(await linkRows(service)).toEqual([
        [ra, rx, 2],
        [rc, rx, 2],
      ]);
      await c!.delete();
      expect(await linkRows(service)).toEqual([[ra, rx, 2]]);
      await tables.articles.deleteAllRows();
      expect(await linkRows(service)).toEqual([]);
    });

    it("a transaction that fails leaves no link behind; one that commits keeps them all", async () => {
      const { service, tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      const [x, y] = await tables.tags.addRows([{ name: "x" }, { name: "y" }]);
      const kept = await tables.articles.addRow({ title: "kept", tags: [x!] });
      const failed = await inTransaction(async () => {
        await tables.articles.addRow({ title: "gone", tags: [x!, y!] });
        await kept.update({ tags: [y!] });
        await tables.articles.addLink(kept, "tags", x!);
        throw new Error("no");
      }).catch((e: unknown) => e);
      expect(failed).toMatchObject({ message: "no" });
      expect(await linkRows(service)).toEqual([[rowId(kept), rowId(x!), 1]]);
      await inTransaction(async () => {
        const added = await tables.articles.addRow({ title: "new", tags: [y!] });
        await tables.articles.addLink(added, "tags", x!);
        await tables.articles.removeLink(kept, "tags", x!);
        expect(await tables.articles.countLinks(added, "tags")).toBe(2);
        expect((await tables.articles.search({ tags: x! }).toArray()).map((r) => r.title)).toEqual([
          "new",
        ]);
      });
      const read = await tables.articles.get({ title: "new" });
      expect((read!.tags as Row[]).map((t) => t.name)).toEqual(["y", "x"]);
      expect(await tables.articles.countLinks(kept, "tags")).toBe(0);
    });
  });
}
