import { describe, expect, it } from "vitest";
import { q } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: paged lists with their total`, () => {
    it("total() ignores limit and offset; toPage() gives the page and the total", async () => {
      const { tables } = await tablesApp(dialect, { items: { n: "number", even: "bool" } });
      await tables.items.addRows(
        Array.from({ length: 25 }, (_, i) => ({ n: i, even: i % 2 === 0 })),
      );
      const paged = (page: number, size = 10) =>
        tables.items.search({ even: true }, { orderBy: "n", limit: size, offset: page * size });
      expect(await paged(0).count()).toBe(10);
      expect(await paged(0).total()).toBe(13);
      for (const [page, first, length] of [
        [0, 0, 10],
        [1, 20, 3],
      ] as const) {
        const { rows, total } = await paged(page).toPage();
        expect(total).toBe(13);
        expect(rows.length).toBe(length);
        expect(rows[0]!.n).toBe(first);
      }
      // Past the end, and a page that ends exactly at the end.
      expect(await paged(5).toPage()).toEqual({ rows: [], total: 13 });
      const exact = await paged(0, 13).toPage();
      expect([exact.rows.length, exact.total]).toEqual([13, 13]);
      expect(await tables.items.search({ n: q.greaterThan(100) }, { limit: 5 }).toPage()).toEqual({
        rows: [],
        total: 0,
      });
      // Without paging options the page is every matching row.
      expect((await tables.items.search({ even: false }).toPage()).total).toBe(12);
      const zero = await tables.items.search({}, { limit: 0 }).toPage();
      expect([zero.rows.length, zero.total]).toEqual([0, 25]);
    });
  });
}
