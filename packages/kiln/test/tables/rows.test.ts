import { describe, expect, it } from "vitest";
import { BlobMedia, KilnError } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const TASKS = {
  tasks: {
    title: "text",
    points: "number",
    done: "bool",
    due: "date",
    at: "datetime",
    meta: "object",
    file: "media",
  },
};

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(KilnError);
    return (error as KilnError).code;
  }
  return undefined;
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: rows`, () => {
    it("addRow stores every column type and reads them back with the same JavaScript types", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const at = new Date("2025-03-04T05:06:07.089Z");
      const added = await tables.tasks.addRow({
        title: "Write docs",
        points: 2.5,
        done: false,
        due: "2025-03-31",
        at,
        meta: { tags: ["a", "b"], nested: { n: 1 } },
        file: new BlobMedia("text/plain", "hello", "hello.txt"),
      });
      const read = await tables.tasks.getById(added.id);
      for (const row of [added, read!]) {
        expect(row.title).toBe("Write docs");
        expect(row.points).toBe(2.5);
        expect(row.done).toBe(false);
        expect(row.due).toBe("2025-03-31");
        expect(row.at).toEqual(at);
        expect(row.meta).toEqual({ tags: ["a", "b"], nested: { n: 1 } });
        const file = row.file as BlobMedia;
        expect([file.contentType, file.name, file.getText()]).toEqual([
          "text/plain",
          "hello.txt",
          "hello",
        ]);
      }
    });

    it("columns left out are null, and a Date for a date column keeps its UTC day", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const row = await tables.tasks.addRow({ due: new Date("2025-12-31T23:30:00Z") });
      expect(row.title).toBeNull();
      expect(row.due).toBe("2025-12-31");
      expect((await tables.tasks.getById(row.id))!.points).toBeNull();
    });

    it("addRows adds many rows at once, in order, with mixed columns", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const values = Array.from({ length: 250 }, (_, i) =>
        i % 3 === 0 ? { title: `t${i}`, points: i } : i % 3 === 1 ? { done: true } : {},
      );
      const rows = await tables.tasks.addRows(values);
      expect(rows.map((r) => r.title)).toEqual(values.map((v) => ("title" in v ? v.title : null)));
      const read = await tables.tasks.search().toArray();
      expect(read.map((r) => r.id)).toEqual(rows.map((r) => r.id));
      expect(read.map((r) => [r.points, r.done])).toEqual(rows.map((r) => [r.points, r.done]));
    });

    it("addRows checks every row first: one bad row adds none", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const error = await tables.tasks
        .addRows([{ title: "a" }, { title: "b" }, { points: "three" }])
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "KILN_BAD_VALUE", column: "points" });
      expect(await tables.tasks.search().count()).toBe(0);
      expect(await codeOf(tables.tasks.addRows({} as never))).toBe("KILN_BAD_VALUE");
    });

    it("a row id looks like [tableId,rowId] and getById finds the row by it", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const a = await tables.tasks.addRow({ title: "a" });
      const b = await tables.tasks.addRow({ title: "b" });
      expect(a.id).toMatch(/^\[\d+,\d+\]$/);
      expect(a.id).not.toBe(b.id);
      expect((await tables.get("tasks").getById(b.id))!.title).toBe("b");
    });

    it("getById returns null for malformed ids, ids of other tables and missing rows", async () => {
      const { tables } = await tablesApp(dialect, { ...TASKS, notes: { text: "text" } });
      const task = await tables.tasks.addRow({ title: "a" });
      const note = await tables.notes.addRow({ text: "n" });
      for (const id of [
        "",
        "abc",
        "[1]",
        "[1,2,3]",
        "[x,1]",
        "1,2",
        "[1, 2]",
        "[99999999999999999999,1]",
        note.id,
      ]) {
        expect(await tables.tasks.getById(id)).toBeNull();
      }
      const [tableId] = JSON.parse(task.id) as number[];
      expect(await tables.tasks.getById(`[${tableId},999999]`)).toBeNull();
      expect(await tables.tasks.getById(42 as unknown as string)).toBeNull();
    });

    it("update writes the given columns, keeps the others, and the row shows the new values", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const row = await tables.tasks.addRow({ title: "a", done: false, points: 1 });
      await row.update({ done: true, points: null });
      expect([row.title, row.done, row.points]).toEqual(["a", true, null]);
      const read = await tables.tasks.getById(row.id);
      expect([read!.title, read!.done, read!.points]).toEqual(["a", true, null]);
    });

    it("delete removes the row; updating it afterwards is KILN_ROW_DELETED; deleting again is harmless", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const row = await tables.tasks.addRow({ title: "a" });
      await row.delete();
      expect(await tables.tasks.getById(row.id)).toBeNull();
      expect(await codeOf(row.update({ title: "b" }))).toBe("KILN_ROW_DELETED");
      await row.delete();
    });

    it("ids are never reused, even after deleteAllRows", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const first = await tables.tasks.addRow({ title: "a" });
      await first.delete();
      const second = await tables.tasks.addRow({ title: "b" });
      await tables.tasks.deleteAllRows();
      expect(await tables.tasks.search().count()).toBe(0);
      const third = await tables.tasks.addRow({ title: "c" });
      expect(new Set([first.id, second.id, third.id]).size).toBe(3);
      expect(await tables.tasks.getById(first.id)).toBeNull();
    });

    it("equals compares table and id, not the loaded values", async () => {
      const { tables } = await tablesApp(dialect, { ...TASKS, notes: { text: "text" } });
      const row = await tables.tasks.addRow({ title: "a" });
      const again = await tables.tasks.getById(row.id);
      const other = await tables.tasks.addRow({ title: "a" });
      const note = await tables.notes.addRow({ text: "a" });
      expect(row.equals(again)).toBe(true);
      expect(row.equals(other)).toBe(false);
      expect(row.equals(note)).toBe(note.id === row.id);
      expect(row.equals(row.id)).toBe(false);
      expect(row.equals(null)).toBe(false);
    });

    it("toJSON gives the columns and the id, ready for a response", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const row = await tables.tasks.addRow({
        title: "a",
        at: new Date("2025-01-01T00:00:00Z"),
        file: new BlobMedia("image/png", new Uint8Array([1, 2, 3]), "x.png"),
      });
      expect(JSON.parse(JSON.stringify(row))).toEqual({
        id: row.id,
        title: "a",
        points: null,
        done: null,
        due: null,
        at: "2025-01-01T00:00:00.000Z",
        meta: null,
        file: { contentType: "image/png", name: "x.png", length: 3 },
      });
    });

    it("a row returned from an endpoint is sent as its fields plus id, secrets left out", async () => {
      const { app, tables } = await tablesApp(dialect, TASKS, {
        setup: (app) => {
          app.httpEndpoint("/task", async () => (await tables.tasks.search().toArray())[0]);
          app.httpEndpoint("/user", () => tables.users.get({ email: "a@example.com" }));
        },
      });
      const row = await tables.tasks.addRow({ title: "sent", done: true });
      await tables.users.addRow({ email: "a@example.com", passwordHash: "secret-hash" });
      const task = await app.inject({ method: "GET", url: "/_/api/task" });
      expect(task.json()).toMatchObject({ title: "sent", done: true, id: row.id });
      const user = await app.inject({ method: "GET", url: "/_/api/user" });
      expect(user.json()).toMatchObject({ email: "a@example.com" });
      expect(user.body).not.toContain("secret-hash");
      expect(user.json()).not.toHaveProperty("passwordHash");
    });

    it("returning a search itself (not its rows) from an endpoint is a clear error", async () => {
      const logs: { msg?: string; err?: { message?: string } }[] = [];
      const { app, tables } = await tablesApp(dialect, TASKS, {
        logs,
        setup: (app) => app.httpEndpoint("/lazy", () => tables.tasks.search()),
      });
      const response = await app.inject({ method: "GET", url: "/_/api/lazy" });
      expect(response.statusCode).toBe(500);
      expect(JSON.stringify(logs)).toContain("toArray()");
    });

    it("assigning to a column property is refused with a hint to use update", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const row = await tables.tasks.addRow({ title: "a" });
      expect(
        await codeOf(() => {
          (row as unknown as Record<string, unknown>).title = "b";
        }),
      ).toBe("KILN_BAD_VALUE");
    });

    it("unknown tables and columns are errors naming them", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      expect(await codeOf(() => tables.nope)).toBe("KILN_UNKNOWN_TABLE");
      expect(await codeOf(() => tables.get("nope"))).toBe("KILN_UNKNOWN_TABLE");
      const error = await tables.tasks.addRow({ titel: "x" }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "KILN_UNKNOWN_COLUMN", table: "tasks", column: "titel" });
      expect(String((error as Error).message)).toContain("titel");
    });

    it("a value of the wrong type is KILN_BAD_VALUE naming table, column and type", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const cases: Record<string, unknown[]> = {
        title: [1, true, {}, new Date()],
        points: ["1", Number.NaN, Number.POSITIVE_INFINITY, true],
        done: ["true", 1, 0],
        due: ["2025-02-30", "2025-1-1", "tomorrow", 20250101, new Date(Number.NaN)],
        at: ["2025-01-01", "2025-01-01T10:00:00", 1735689600000, new Date(Number.NaN)],
        meta: [10n],
        file: ["bytes", Buffer.from("x")],
      };
      for (const [column, values] of Object.entries(cases)) {
        for (const value of values) {
          const error = await tables.tasks.addRow({ [column]: value }).catch((e: unknown) => e);
          expect(error, `${column} = ${String(value)}`).toMatchObject({
            code: "KILN_BAD_VALUE",
            table: "tasks",
            column,
            columnType: (TASKS.tasks as Record<string, string>)[column],
          });
        }
      }
      expect(await codeOf(tables.tasks.addRow("title" as never))).toBe("KILN_BAD_VALUE");
      expect(await tables.tasks.search().count()).toBe(0);
    });

    it("datetime accepts an ISO string with an offset; object keeps any JSON value", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const row = await tables.tasks.addRow({
        at: "2025-01-01T10:00:00+02:00",
        meta: [1, "two", null],
      });
      expect(row.at).toEqual(new Date("2025-01-01T08:00:00Z"));
      expect((await tables.tasks.getById(row.id))!.meta).toEqual([1, "two", null]);
      const text = await tables.tasks.addRow({ meta: "just a string" });
      expect((await tables.tasks.getById(text.id))!.meta).toBe("just a string");
    });

    it("text keeps any Unicode but U+0000, and empty strings distinct from null", async () => {
      const { tables } = await tablesApp(dialect, TASKS);
      const row = await tables.tasks.addRow({ title: "" });
      const emoji = await tables.tasks.addRow({
        title: "naïve 🎉 \\u0000 end",
        meta: { s: "\\u0000" },
      });
      expect((await tables.tasks.getById(row.id))!.title).toBe("");
      expect((await tables.tasks.getById(emoji.id))!.title).toBe("naïve 🎉 \\u0000 end");
      expect((await tables.tasks.getById(emoji.id))!.meta).toEqual({ s: "\\u0000" });
      expect(await tables.tasks.search({ title: null }).count()).toBe(0);
      expect(await codeOf(tables.tasks.addRow({ title: "a\u0000b" }))).toBe("KILN_BAD_VALUE");
      expect(await codeOf(tables.tasks.addRow({ meta: { s: "a\u0000b" } }))).toBe("KILN_BAD_VALUE");
    });
  });
}
