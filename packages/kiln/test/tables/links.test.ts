import { describe, expect, it } from "vitest";
import { KilnError, q, type Row } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const SCHEMA = {
  tasks: { title: "text", owner: "link users", tags: "links tags", parent: "link tasks" },
  tags: { name: "text", group: "link groups" },
  groups: { name: "text" },
};

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: links`, () => {
    it("a link column gives the linked row, loaded with its columns", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const ada = await tables.users.addRow({ email: "ada@example.com", enabled: true });
      const task = await tables.tasks.addRow({ title: "t", owner: ada });
      const read = await tables.tasks.getById(task.id);
      const owner = read!.owner as Row;
      expect(owner.equals(ada)).toBe(true);
      expect(owner.email).toBe("ada@example.com");
      expect((task.owner as Row).equals(ada)).toBe(true);
      expect(read!.toJSON().owner).toBe(ada.id);
    });

    it("a links column gives the rows in the order given", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const [a, b, c] = [
        await tables.tags.addRow({ name: "a" }),
        await tables.tags.addRow({ name: "b" }),
        await tables.tags.addRow({ name: "c" }),
      ];
      const task = await tables.tasks.addRow({ title: "t", tags: [c!, a!] });
      expect(((await tables.tasks.getById(task.id))!.tags as Row[]).map((t) => t.name)).toEqual([
        "c",
        "a",
      ]);
      await task.update({ tags: [b!] });
      expect(((await tables.tasks.getById(task.id))!.tags as Row[]).map((t) => t.name)).toEqual([
        "b",
      ]);
      expect(task.toJSON().tags).toEqual([b!.id]);
      const empty = await tables.tasks.addRow({ title: "none" });
      expect(empty.tags).toEqual([]);
      expect((await tables.tasks.getById(empty.id))!.tags).toEqual([]);
    });

    it("search by a linked row, by several, and by null", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const ada = await tables.users.addRow({ email: "ada@example.com" });
      const bob = await tables.users.addRow({ email: "bob@example.com" });
      const [x, y] = [
        await tables.tags.addRow({ name: "x" }),
        await tables.tags.addRow({ name: "y" }),
      ];
      await tables.tasks.addRow({ title: "1", owner: ada, tags: [x!, y!] });
      await tables.tasks.addRow({ title: "2", owner: bob, tags: [y!] });
      await tables.tasks.addRow({ title: "3" });
      const titles = async (filters: unknown) =>
        (await tables.tasks.search(filters as never).toArray()).map((r) => r.title);
      expect(await titles({ owner: ada })).toEqual(["1"]);
      expect(await titles({ owner: null })).toEqual(["3"]);
      expect(await titles({ owner: q.anyOf(ada, bob) })).toEqual(["1", "2"]);
      expect(await titles({ owner: q.noneOf(ada) })).toEqual(["2", "3"]);
      expect(await titles({ tags: y })).toEqual(["1", "2"]);
      expect(await titles({ tags: [x!, y!] })).toEqual(["1"]);
      expect(await titles({ tags: q.anyOf(x, y) })).toEqual(["1", "2"]);
      expect(await titles({ tags: q.allOf(x, y) })).toEqual(["1"]);
      expect(await titles({ tags: q.noneOf(x) })).toEqual(["2", "3"]);
      expect(await titles({ tags: null })).toEqual(["3"]);
    });

    it("a search by a loaded linked row gives that row as the link; each search its own values", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const ada = await tables.users.addRow({ email: "ada@example.com" });
      const bob = await tables.users.addRow({ email: "bob@example.com" });
      for (const [title, owner] of [
        ["a1", ada],
        ["b1", bob],
        ["a2", ada],
        ["b2", bob],
        ["a3", ada],
      ] as const) {
        await tables.tasks.addRow({ title, owner });
      }
      const found = await tables.tasks.search({ owner: ada }).toArray();
      expect(found.map((t) => t.title)).toEqual(["a1", "a2", "a3"]);
      expect(found.every((t) => t.owner === ada)).toBe(true);
      expect(found[0]!.toJSON().owner).toBe(ada.id);
      // The same shape again (its SQL is kept): other values, offset, limit, order, columns.
      const titles = async (filters: unknown, options = {}) =>
        (await tables.tasks.search(filters as never, options).toArray()).map((r) => r.title);
      expect(await titles({ owner: bob })).toEqual(["b1", "b2"]);
      expect(await titles({ owner: ada }, { offset: 1 })).toEqual(["a2", "a3"]);
      expect(await titles({ owner: ada }, { offset: 1, limit: 1 })).toEqual(["a2"]);
      expect(await titles({ owner: bob }, { offset: 1, limit: 1 })).toEqual(["b2"]);
      expect(await titles({ owner: ada, title: "a2" })).toEqual(["a2"]);
      expect(await titles({ title: "b1", owner: bob })).toEqual(["b1"]);
      expect(
        await titles({ owner: ada }, { orderBy: { column: "title", ascending: false } }),
      ).toEqual(["a3", "a2", "a1"]);
      expect(await tables.tasks.search({ owner: ada }, { limit: 2 }).count()).toBe(2);
      // A row reached through two links is not loaded: the link is then read from the database.
      const parent = await tables.tasks.get({ title: "a1" });
      const child = await tables.tasks.addRow({ title: "c", parent });
      const stub = ((await tables.tasks.getById(child.id))!.parent as Row).owner as Row;
      expect(() => stub.email).toThrow(KilnError);
      const viaStub = await tables.tasks.search({ owner: stub }).toArray();
      expect(viaStub.map((t) => (t.owner as Row).email)).toEqual(Array(3).fill("ada@example.com"));
    });

    it("a row of the wrong table, or no row, for a link is KILN_BAD_VALUE", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const tag = await tables.tags.addRow({ name: "x" });
      for (const bad of [
        { owner: tag },
        { owner: tag.id },
        { tags: tag },
        { tags: [tag.id] },
        { owner: {} },
      ]) {
        const error = await tables.tasks.addRow(bad as never).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(KilnError);
        expect(error).toMatchObject({ code: "KILN_BAD_VALUE", table: "tasks" });
      }
      const filterError = await Promise.resolve()
        .then(() => tables.tasks.search({ owner: tag }))
        .catch((e: unknown) => e);
      expect(filterError).toMatchObject({
        code: "KILN_BAD_VALUE",
        column: "owner",
        columnType: "link users",
      });
    });

    it("a link to a deleted row reads as null; a links list leaves deleted rows out", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const ada = await tables.users.addRow({ email: "ada@example.com" });
      const [x, y] = [
        await tables.tags.addRow({ name: "x" }),
        await tables.tags.addRow({ name: "y" }),
      ];
      const task = await tables.tasks.addRow({ title: "t", owner: ada, tags: [x!, y!] });
      await ada.delete();
      await x!.delete();
      const read = await tables.tasks.getById(task.id);
      expect(read!.owner).toBeNull();
      expect((read!.tags as Row[]).map((t) => t.name)).toEqual(["y"]);
      expect(read!.toJSON()).toMatchObject({ owner: null, tags: [y!.id] });
    });

    it("rows reached through two links have an id but are not loaded", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const group = await tables.groups.addRow({ name: "g" });
      const tag = await tables.tags.addRow({ name: "x", group });
      const task = await tables.tasks.addRow({ title: "t", tags: [tag] });
      const parentless = await tables.tasks.addRow({ title: "child", parent: task });
      const read = await tables.tasks.getById(task.id);
      const readTag = (read!.tags as Row[])[0]!;
      expect(readTag.name).toBe("x");
      const stub = readTag.group as Row;
      expect(stub.id).toBe(group.id);
      expect(stub.equals(group)).toBe(true);
      const error = (() => {
        try {
          return stub.name;
        } catch (e) {
          return e;
        }
      })();
      expect(error).toMatchObject({ code: "KILN_ROW_NOT_LOADED", table: "groups" });
      expect((await tables.groups.getById(stub.id))!.name).toBe("g");
      const child = await tables.tasks.getById(parentless.id);
      expect((child!.parent as Row).title).toBe("t");
    });

    it("links of many rows are fetched together, and all resolve", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const users: Row[] = [];
      for (let i = 0; i < 30; i++)
        users.push(await tables.users.addRow({ email: `u${i}@example.com` }));
      for (let i = 0; i < 700; i++)
        await tables.tasks.addRow({ title: `${i}`, owner: users[i % 30] });
      let n = 0;
      for await (const task of tables.tasks.search()) {
        expect((task.owner as Row).email).toBe(`u${n % 30}@example.com`);
        n++;
      }
      expect(n).toBe(700);
    });
  });
}
