import { describe, expect, it } from "vitest";
import { q, type Row } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const SCHEMA = {
  articles: { title: "text", author: "link users", score: "number" },
  notes: { text: "text" },
};

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: filters on id, and lists of any length`, () => {
    it("get({ id }) and search({ id }) take a row or its id text, with other filters", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const ada = await tables.users.addRow({ email: "ada@example.com" });
      const a = await tables.articles.addRow({ title: "a", author: ada });
      const b = await tables.articles.addRow({ title: "b" });
      expect((await tables.articles.get({ id: a.id }))?.title).toBe("a");
      expect((await tables.articles.get({ id: b }))?.title).toBe("b");
      expect((await tables.articles.get({ id: a.id, author: ada }))?.title).toBe("a");
      expect(await tables.articles.get({ id: b.id, author: ada })).toBeNull();
      // Ids usually come from clients: malformed ones, or ids of another table, match nothing.
      const note = await tables.notes.addRow({ text: "n" });
      for (const id of ["nonsense", "[1,", note.id, "[999999,1]"]) {
        expect(await tables.articles.get({ id })).toBeNull();
      }
      // A row of another table is a mistake in the code: refused, naming the column.
      await expect(tables.articles.get({ id: note })).rejects.toMatchObject({
        code: "KILN_BAD_VALUE",
        column: "id",
      });
      await expect(tables.articles.get({ id: 3 } as never)).rejects.toMatchObject({
        code: "KILN_BAD_VALUE",
      });
    });

    it("q.anyOf, q.noneOf and q.not of ids, at the top and inside q.anyOf of filters", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const rows: Row[] = [];
      for (const title of ["a", "b", "c", "d"]) rows.push(await tables.articles.addRow({ title }));
      const [a, b, c] = rows as [Row, Row, Row, Row];
      const titles = async (filters: unknown) =>
        (await tables.articles.search(filters as never).toArray()).map((r) => r.title);
      expect(await titles({ id: q.anyOf(a.id, c, "junk") })).toEqual(["a", "c"]);
      expect(await titles({ id: q.noneOf(a, b.id) })).toEqual(["c", "d"]);
      expect(await titles({ id: q.not(b.id) })).toEqual(["a", "c", "d"]);
      expect(await titles(q.anyOf({ id: a.id }, { title: "d" }))).toEqual(["a", "d"]);
      expect(await tables.articles.search({ id: q.anyOf(a, b) }).count()).toBe(2);
      expect(() => tables.articles.search({ id: q.greaterThan(a.id) as never })).toThrow(
        expect.objectContaining({ code: "KILN_BAD_QUERY" }),
      );
    });

    it("q.anyOf of 70,000 values works (over SQLite's 32,766 and PostgreSQL's 65,535 parameters), for ids, links and plain columns", async () => {
      const { service, tables } = await tablesApp(dialect, SCHEMA);
      const ada = await tables.users.addRow({ email: "ada@example.com" });
      const added = await tables.articles.addRows(
        Array.from({ length: 50 }, (_, i) => ({ title: `t${i}`, score: i, author: ada })),
      );
      const tableId = service.table("articles").tableId;
      // 70,000 ids of rows that mostly do not exist, with the real ones among them.
      const ids = Array.from({ length: 70_000 }, (_, i) => `[${tableId},${100_000 + i}]`);
      ids.push(added[3]!.id, added[7]!.id);
      const byId = await tables.articles.search({ id: q.anyOf(...ids) }).toArray();
      expect(byId.map((r) => r.title)).toEqual(["t3", "t7"]);

      const scores = Array.from({ length: 70_000 }, (_, i) => 1000 + i);
      scores.push(5, 6);
      expect(await tables.articles.search({ score: q.anyOf(...scores) }).count()).toBe(2);
      expect(await tables.articles.search({ score: q.noneOf(...scores) }).count()).toBe(48);
      const titles = Array.from({ length: 70_000 }, (_, i) => `x${i}`);
      titles.push("t9");
      expect((await tables.articles.get({ title: q.anyOf(...titles) }))?.score).toBe(9);

      const users = [ada];
      for (let i = 0; i < 40; i++) users.push(await tables.users.addRow({ email: `u${i}@x.io` }));
      const many = Array.from({ length: 70_000 }, (_, i) => users[i % users.length]!);
      expect(await tables.articles.search({ author: q.anyOf(...many) }).count()).toBe(50);
    });
  });
}
