import { describe, expect, it } from "vitest";
import { builtInTables } from "../../src/app/built-in-tables.ts";
import { KilnError } from "../../src/index.ts";
import { openTables } from "../../src/tables/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const SCHEMA = {
  posts: { slug: { type: "text", unique: true }, title: "text" },
  follows: {
    follower: "link users",
    followed: "link users",
    unique: [["follower", "followed"]],
  },
};

async function refusal(fn: () => Promise<unknown>): Promise<KilnError & Record<string, unknown>> {
  const error = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KilnError);
  return error as KilnError & Record<string, unknown>;
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: unique columns`, () => {
    it("unique: true refuses a second row with the value, from addRow, update and addRows", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const first = await tables.posts.addRow({ slug: "hello", title: "1" });
      const other = await tables.posts.addRow({ slug: "other", title: "2" });
      for (const write of [
        () => tables.posts.addRow({ slug: "hello" }),
        () => other.update({ slug: "hello" }),
        () => tables.posts.addRows([{ slug: "new" }, { slug: "hello" }]),
      ]) {
        expect(await refusal(write)).toMatchObject({
          code: "KILN_DUPLICATE_VALUE",
          table: "posts",
          column: "slug",
          status: 409,
          message: "posts.slug: another row already has this value",
        });
      }
      // Nothing was written by the refused writes; nulls never clash; a row keeps its own value.
      expect((await tables.posts.search().toArray()).map((r) => r.slug)).toEqual([
        "hello",
        "other",
      ]);
      await tables.posts.addRow({ title: "no slug" });
      await tables.posts.addRow({ title: "no slug either" });
      await first.update({ slug: "hello", title: "same slug" });
      expect(await tables.posts.get({ slug: "hello" })).toMatchObject({ title: "same slug" });
    });

    it("a composite unique list refuses the same pair only, naming both columns", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const ada = await tables.users.addRow({ email: "ada@example.com" });
      const bob = await tables.users.addRow({ email: "bob@example.com" });
      await tables.follows.addRow({ follower: ada, followed: bob });
      await tables.follows.addRow({ follower: bob, followed: ada });
      expect(
        await refusal(() => tables.follows.addRow({ follower: ada, followed: bob })),
      ).toMatchObject({
        code: "KILN_DUPLICATE_VALUE",
        column: "follower, followed",
        columns: ["follower", "followed"],
        message: "follows: another row already has these values of follower, followed together",
      });
      expect(await tables.follows.search().count()).toBe(2);
    });

    it("inside inTransaction the violation can be caught and the transaction goes on", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      await tables.posts.addRow({ slug: "taken" });
      await inTransaction(async () => {
        await tables.posts.addRow({ slug: "before" });
        const error = await refusal(() => tables.posts.addRow({ slug: "taken" }));
        expect(error.code).toBe("KILN_DUPLICATE_VALUE");
        await tables.posts.addRow({ slug: "after" });
      });
      expect((await tables.posts.search().toArray()).map((r) => r.slug)).toEqual([
        "taken",
        "before",
        "after",
      ]);
      // Uncaught, it rolls the transaction back and reaches the caller as it is.
      const error = await refusal(() =>
        inTransaction(async () => {
          await tables.posts.addRow({ slug: "lost" });
          await tables.posts.addRow({ slug: "taken" });
        }),
      );
      expect(error).toMatchObject({ code: "KILN_DUPLICATE_VALUE", column: "slug" });
      expect(await tables.posts.get({ slug: "lost" })).toBeNull();
    });

    it("a migration adding uniqueness refuses existing duplicates, naming them; removing it drops the index", async () => {
      const first = await tablesApp(dialect, { posts: { slug: "text" }, tags: { name: "text" } });
      await first.tables.posts.addRows([
        { slug: "a" },
        { slug: "dup" },
        { slug: "dup" },
        { slug: "b" },
      ]);
      const kept = await first.tables.posts.addRow({ slug: "kept" });
      const error = await refusal(() =>
        first.reopen({ posts: { slug: { type: "text", unique: true } }, tags: { name: "text" } }),
      );
      expect(error).toMatchObject({ code: "KILN_DUPLICATE_VALUE", table: "posts", column: "slug" });
      expect(error.message).toContain("kiln.yaml makes posts.slug unique");
      expect(error.message).toContain('"dup" (2 rows)');
      // The old kiln.yaml still works, with every row.
      const again = await first.reopen({ posts: { slug: "text" }, tags: { name: "text" } });
      expect(await again.tables.posts.search().count()).toBe(5);
      await (await again.tables.posts.get({ slug: "b" }))!.delete();
      for (const row of (await again.tables.posts.search({ slug: "dup" }).toArray()).slice(1)) {
        await row.update({ slug: "dup2" });
      }
      const unique = await again.reopen({ posts: { slug: { type: "text", unique: true } } });
      expect(await refusal(() => unique.tables.posts.addRow({ slug: "kept" }))).toMatchObject({
        code: "KILN_DUPLICATE_VALUE",
      });
      expect((await unique.tables.posts.getById(kept.id))?.slug).toBe("kept");
      const { tables } = await unique.reopen({ posts: { slug: "text" } });
      await tables.posts.addRow({ slug: "kept" });
      expect(await tables.posts.search({ slug: "kept" }).count()).toBe(2);
    });

    it("migrate --apply retyping a unique column keeps it unique, refusing duplicates the conversion makes", async () => {
      const before = {
        items: { code: { type: "text", unique: true }, n: "number", unique: [["code", "n"]] },
      };
      const first = await tablesApp(dialect, before);
      const [one, , two] = await first.tables.items.addRows([
        { code: "1", n: 1 },
        { code: "01", n: 1 },
        { code: "2", n: 2 },
      ]);
      await first.app.close();
      const options = {
        builtIns: builtInTables,
        dataDir: first.database.dataDir,
        databaseUrl: first.database.databaseUrl,
        tables: {
          items: { code: { type: "number", unique: true }, n: "number", unique: [["code", "n"]] },
        },
        apply: true,
      };
      // "1" and "01" both become 1: the migration is refused and changes nothing.
      const error = await refusal(() => openTables(options));
      expect(error).toMatchObject({ code: "KILN_DUPLICATE_VALUE", table: "items", column: "code" });
      expect(error.message).toContain("1 (2 rows)");
      const old = await openTables({ ...options, tables: before, apply: false });
      await (await old.tables.items.get({ code: "01" }))!.delete();
      await old.close();
      const applied = await openTables(options);
      expect(applied.migration.pending).toEqual([]);
      const rows = await applied.tables.items.search().toArray();
      expect(rows.map((r) => [r.id, r.code])).toEqual([
        [one!.id, 1],
        [two!.id, 2],
      ]);
      for (const values of [{ code: 2 }, { code: 1, n: 1 }]) {
        const refused = await refusal(() => applied.tables.items.addRow(values));
        expect(refused).toMatchObject({ code: "KILN_DUPLICATE_VALUE", table: "items" });
      }
      await applied.close();
    });

    it("kiln.yaml mistakes in uniqueness are clear config errors", async () => {
      for (const [tablesSpec, message] of [
        [{ t: { a: { type: "links users", unique: true } } }, "cannot be unique"],
        [{ t: { a: { type: "text", unique: "yes" } } }, "unique must be true or false"],
        [{ t: { a: "text", unique: [["a", "nope"]] } }, 'no column "nope"'],
        [{ t: { a: "text", unique: [[]] } }, "expected lists of column names"],
      ] as const) {
        const error = await refusal(() => tablesApp(dialect, tablesSpec));
        expect(error.code).toBe("KILN_BAD_CONFIG");
        expect(error.message).toContain(message);
      }
      // A column may still be called unique: only a list under `unique` is the table's.
      const { tables } = await tablesApp(dialect, { t: { unique: "text" } });
      expect((await tables.t.addRow({ unique: "x" })).unique).toBe("x");
    });
  });

  describe(`${dialect.name}: what a client's bad value gets over HTTP`, () => {
    it("a duplicate is 409 and a bad limit 400, with the message; an unknown column stays a logged 500", async () => {
      const logs: { level: number; errorId?: string; err?: { message?: string } }[] = [];
      const { app, tables } = await tablesApp(dialect, SCHEMA, {
        logs,
        setup: (app) => {
          app.httpEndpoint("/posts", { methods: ["POST"] }, ({ slug }: { slug?: string }) =>
            tables.posts.addRow({ slug }),
          );
          app.httpEndpoint("/list", ({ limit }: { limit?: string }) =>
            tables.posts.search({}, { limit: Number(limit) }).toArray(),
          );
          app.httpEndpoint("/bug", () => tables.posts.search({ nope: 1 }).toArray());
        },
      });
      const url = await app.listen({ host: "127.0.0.1", port: 0 });
      const post = (slug: string) =>
        fetch(`${url}/_/api/posts`, {
          method: "POST",
          body: new URLSearchParams({ slug }),
        });
      expect((await post("x")).status).toBe(200);
      const duplicate = await post("x");
      expect(duplicate.status).toBe(409);
      expect(await duplicate.json()).toEqual({
        error: "posts.slug: another row already has this value",
      });
      const badLimit = await fetch(`${url}/_/api/list?limit=ten`);
      expect(badLimit.status).toBe(400);
      expect(((await badLimit.json()) as { error: string }).error).toBe(
        "posts.search: limit must be a whole number >= 0, got NaN",
      );
      expect((await fetch(`${url}/_/api/list?limit=1`)).status).toBe(200);
      const bug = await fetch(`${url}/_/api/bug`);
      expect(bug.status).toBe(500);
      const { id } = (await bug.json()) as { id: string };
      expect(logs.find((l) => l.errorId === id)?.err?.message).toContain('no column "nope"');
    });
  });
}
