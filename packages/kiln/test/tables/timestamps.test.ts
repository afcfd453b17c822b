import { describe, expect, it } from "vitest";
import { KilnError } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const SCHEMA = {
  articles: {
    title: "text",
    status: { type: "text", default: "draft" },
    day: { type: "date", default: "now" },
    created: { type: "datetime", default: "now" },
    updated: { type: "datetime", default: "now", onUpdate: "now" },
  },
};

const time = (value: unknown) => (value as Date).getTime();

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: columns that fill themselves`, () => {
    it("default: now and constants fill columns left out of addRow and addRows", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const before = Date.now();
      const added = await tables.articles.addRow({ title: "a" });
      const [many] = await tables.articles.addRows([{ title: "b" }]);
      const after = Date.now();
      for (const row of [added, many!, await tables.articles.getById(added.id)]) {
        expect(row!.status).toBe("draft");
        expect(time(row!.created)).toBeGreaterThanOrEqual(before);
        expect(time(row!.created)).toBeLessThanOrEqual(after);
        expect(time(row!.updated)).toBe(time(row!.created));
        expect(row!.day).toBe(new Date(time(row!.created)).toISOString().slice(0, 10));
      }
      expect(time((await tables.articles.getById(added.id))!.created)).toBe(time(added.created));
      // A value given (null included) wins over the default.
      const given = new Date("2020-01-02T03:04:05Z");
      const explicit = await tables.articles.addRow({ status: null, created: given });
      expect(explicit.status).toBeNull();
      expect((await tables.articles.getById(explicit.id))!.created).toEqual(given);
    });

    it("onUpdate: now sets the column on every update that writes, unless given", async () => {
      const { tables } = await tablesApp(dialect, SCHEMA);
      const row = await tables.articles.addRow({ title: "a" });
      const created = time(row.created);
      const before = Date.now();
      await row.update({ title: "b" });
      const read = (await tables.articles.getById(row.id))!;
      expect(time(read.updated)).toBeGreaterThanOrEqual(before);
      expect(time(row.updated)).toBe(time(read.updated));
      expect(time(read.created)).toBe(created);
      const given = new Date("2021-05-06T07:08:09Z");
      await row.update({ title: "c", updated: given });
      expect((await tables.articles.getById(row.id))!.updated).toEqual(given);
      await row.update({});
      expect((await tables.articles.getById(row.id))!.updated).toEqual(given);
    });

    it("addLink and removeLink set onUpdate: now when the list changes, inside transactions too", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, {
        articles: { ...SCHEMA.articles, fans: "links users" },
      });
      const fan = await tables.users.addRow({ email: "fan@example.com" });
      const row = await tables.articles.addRow({ title: "a" });
      const stored = async () => time((await tables.articles.getById(row.id))!.updated);
      let last = time(row.updated);
      const changed = async (change: () => Promise<void>) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const before = Date.now();
        await change();
        const now = await stored();
        expect(now).toBeGreaterThanOrEqual(before);
        expect(time(row.updated)).toBe(now);
        last = now;
      };
      await changed(() => tables.articles.addLink(row, "fans", fan));
      await changed(() => tables.articles.removeLink(row, "fans", fan));
      await changed(() => inTransaction(() => tables.articles.addLink(row, "fans", fan)));
      // Adding a link already there changes nothing, so neither does the time.
      await new Promise((resolve) => setTimeout(resolve, 5));
      await tables.articles.addLink(row, "fans", fan);
      expect(await stored()).toBe(last);
    });

    it("kiln.yaml mistakes in default and onUpdate are clear config errors", async () => {
      for (const [spec, message] of [
        [{ type: "text", default: "now" }, "default: now is for date and datetime columns"],
        [{ type: "number", default: "five" }, "default: t.a is number"],
        [{ type: "link users", default: 1 }, "default must be now"],
        [{ type: "text", onUpdate: "now" }, "onUpdate can only be now"],
        [{ type: "datetime", onUpdate: "later" }, "onUpdate can only be now"],
      ] as const) {
        const error = await tablesApp(dialect, { t: { a: spec } }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(KilnError);
        expect(error).toMatchObject({ code: "KILN_BAD_CONFIG" });
        expect((error as Error).message).toContain(message);
      }
    });
  });
}
