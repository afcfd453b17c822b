import { describe, expect, it } from "vitest";
import type { Row } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const SCHEMA = { articles: { title: "text", fans: "links users" } };
// With a column that each change sets, a change is two statements in a transaction.
const TOUCHED = {
  articles: { ...SCHEMA.articles, updated: { type: "datetime", onUpdate: "now" } },
};

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: adding and removing one link at a time`, () => {
    it.each([
      ["", SCHEMA],
      [" (with onUpdate: now)", TOUCHED],
    ])(
      "20 concurrent requests each adding a fan keep all 20; concurrent removes keep the rest%s",
      async (_, schema) => {
        const { app, tables } = await tablesApp(dialect, schema, {
          setup: (app) => {
            app.httpEndpoint("/fan", { methods: ["POST"] }, async ({ user, remove }) => {
              const article = await tables.articles.get({ title: "hot" });
              const fan = await tables.users.getById(user ?? "");
              if (remove) await tables.articles.removeLink(article!, "fans", fan!);
              else await tables.articles.addLink(article!, "fans", fan!);
              return { ok: true };
            });
          },
        });
        const article = await tables.articles.addRow({ title: "hot" });
        const fans = await tables.users.addRows(
          Array.from({ length: 20 }, (_, i) => ({ email: `fan${i}@example.com` })),
        );
        const url = await app.listen({ host: "127.0.0.1", port: 0 });
        const send = (user: Row, remove = false) =>
          fetch(`${url}/_/api/fan`, {
            method: "POST",
            body: new URLSearchParams(remove ? { user: user.id, remove: "1" } : { user: user.id }),
          });
        const added = await Promise.all(fans.map((fan) => send(fan)));
        expect(added.map((r) => r.status)).toEqual(fans.map(() => 200));
        const read = (await tables.articles.getById(article.id))!.fans as Row[];
        expect(read.map((r) => r.id).sort()).toEqual(fans.map((f) => f.id).sort());
        expect(await tables.articles.countLinks(article, "fans")).toBe(20);

        const removed = await Promise.all(fans.slice(0, 10).map((fan) => send(fan, true)));
        expect(removed.map((r) => r.status)).toEqual(removed.map(() => 200));
        const left = (await tables.articles.getById(article.id))!.fans as Row[];
        expect(left.map((r) => r.id).sort()).toEqual(
          fans
            .slice(10)
            .map((f) => f.id)
            .sort(),
        );
        expect(await tables.articles.countLinks(article, "fans")).toBe(10);
      },
    );

    it("add keeps the order and never doubles a link; the row in hand follows; count skips deleted rows", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const [a, b, c] = await tables.users.addRows([
        { email: "a@example.com" },
        { email: "b@example.com" },
        { email: "c@example.com" },
      ]);
      const article = await tables.articles.addRow({ title: "t" });
      expect(await tables.articles.countLinks(article, "fans")).toBe(0);
      await tables.articles.addLink(article, "fans", b!);
      await tables.articles.addLink(article, "fans", a!);
      await tables.articles.addLink(article, "fans", b!);
      await tables.articles.addLink(article, "fans", c!);
      const ids = (row: Row | null) => (row!.fans as Row[]).map((r) => r.email);
      expect(ids(await tables.articles.getById(article.id))).toEqual([
        "b@example.com",
        "a@example.com",
        "c@example.com",
      ]);
      expect(ids(article)).toEqual(["b@example.com", "a@example.com", "c@example.com"]);
      await tables.articles.removeLink(article, "fans", a!);
      await tables.articles.removeLink(article, "fans", a!);
      expect(ids(await tables.articles.getById(article.id))).toEqual([
        "b@example.com",
        "c@example.com",
      ]);
      expect(ids(article)).toEqual(["b@example.com", "c@example.com"]);
      await c!.delete();
      expect(await tables.articles.countLinks(article, "fans")).toBe(1);
      expect(await tables.articles.search({ fans: b! }).count()).toBe(1);
      await article.delete();
      await expect(tables.articles.addLink(article, "fans", a!)).rejects.toMatchObject({
        code: "KILN_ROW_DELETED",
      });
      await expect(tables.articles.addLink(article, "title" as never, a!)).rejects.toMatchObject({
        code: "KILN_BAD_QUERY",
        column: "title",
      });
      await expect(tables.articles.addLink(a as never, "fans", a!)).rejects.toMatchObject({
        code: "KILN_BAD_VALUE",
      });
    });
  });
}
