import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtInTables } from "../../src/app/built-in-tables.ts";
import { openTables } from "../../src/tables/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

interface LogLine {
  level: number;
  msg: string;
  table?: string;
  column?: string;
  change?: string;
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: schema migration`, () => {
    it("a restart with a new table and new columns keeps every row and id", async () => {
      const first = await tablesApp(dialect, { tasks: { title: "text" } });
      const task = await first.tables.tasks.addRow({ title: "kept" });
      const { tables } = await first.reopen({
        tasks: { title: "text", done: "bool", owner: "link users" },
        notes: { text: "text" },
      });
      const read = await tables.tasks.getById(task.id);
      expect(read).toMatchObject({ title: "kept", done: null, owner: null, id: task.id });
      await read!.update({ done: true });
      await tables.notes.addRow({ text: "new table works" });
      expect(await tables.notes.search().count()).toBe(1);
    });

    it("logs one info line per table, column and index it adds, and none when current", async () => {
      const logs: LogLine[] = [];
      const schemaLines = () => logs.splice(0).filter((l) => l.change !== undefined);
      const first = await tablesApp(
        dialect,
        { tasks: { title: "text", owner: "link users" } },
        { logs, logLevel: "info" },
      );
      const created = schemaLines();
      // A new table's indexes (tasks.owner) come with it, not as lines of their own.
      expect(created.map((l) => l.msg).sort()).toEqual([
        'table "tasks": created with columns "title" (text), "owner" (link users)',
        expect.stringMatching(/^table "users": created with columns "email" \(text\)/),
      ]);
      expect(created.every((l) => l.level === 30)).toBe(true);

      const tasks = {
        tasks: { title: { type: "text", index: true }, owner: "link users", due: "date" },
      };
      const second = await first.reopen(tasks);
      expect(schemaLines()).toMatchObject([
        {
          level: 30,
          table: "tasks",
          column: "due",
          change: "added-column",
          msg: 'table "tasks": added column "due" (date)',
        },
        {
          level: 30,
          table: "tasks",
          column: "title",
          change: "created-index",
          msg: 'table "tasks": created index on "title"',
        },
      ]);

      await second.reopen(tasks);
      expect(schemaLines()).toEqual([]);
    });

    it("a removed column is reported, left alone, and its values return if it is declared again", async () => {
      const logs: LogLine[] = [];
      const first = await tablesApp(dialect, { tasks: { title: "text", note: "text" } }, { logs });
      const task = await first.tables.tasks.addRow({ title: "t", note: "precious" });
      const second = await first.reopen({ tasks: { title: "text" } });
      const warning = logs.find((l) => l.column === "note");
      expect(warning?.level).toBe(40);
      expect(warning?.msg).toContain("kiln tables migrate --apply");
      expect(second.service.migration.pending).toMatchObject([
        { kind: "removed-column", table: "tasks", column: "note" },
      ]);
      expect((await second.tables.tasks.getById(task.id))!.toJSON()).toEqual({
        id: task.id,
        title: "t",
      });
      await second.tables.tasks.addRow({ title: "without note" });
      const third = await second.reopen({ tasks: { title: "text", note: "text" } });
      expect((await third.tables.tasks.getById(task.id))!.note).toBe("precious");
    });

    it("a retyped column keeps its stored type, with a warning, until migrate --apply converts it", async () => {
      const logs: LogLine[] = [];
      const first = await tablesApp(dialect, { items: { code: "text", count: "text" } }, { logs });
      const a = await first.tables.items.addRow({ code: "a", count: "12" });
      const b = await first.tables.items.addRow({ code: "b", count: "twelve" });
      const second = await first.reopen({ items: { code: "text", count: "number" } });
      expect(logs.some((l) => l.column === "count" && l.msg.includes("convert"))).toBe(true);
      expect((await second.tables.items.getById(a.id))!.count).toBe("12");
      await second.app.close();
      const applied = await openTables({
        builtIns: builtInTables,
        dataDir: second.database.dataDir,
        databaseUrl: second.database.databaseUrl,
        tables: { items: { code: "text", count: "number" } },
        apply: true,
      });
      expect(applied.migration.pending).toEqual([]);
      expect(applied.migration.done.join("\n")).toContain("1 values did not convert");
      const rows = await applied.tables.items.search().toArray();
      expect(rows.map((r) => [r.id, r.code, r.count])).toEqual([
        [a.id, "a", 12],
        [b.id, "b", null],
      ]);
      expect(await applied.tables.items.search({ count: 12 }).count()).toBe(1);
      await applied.close();
    });

    it("migrate --apply drops removed columns and tables; nothing is pending after", async () => {
      const first = await tablesApp(dialect, {
        tasks: { title: "text", old: "number" },
        gone: { x: "text" },
      });
      const task = await first.tables.tasks.addRow({ title: "t", old: 1 });
      await first.tables.gone.addRow({ x: "bye" });
      await first.app.close();
      const options = {
        builtIns: builtInTables,
        dataDir: first.database.dataDir,
        databaseUrl: first.database.databaseUrl,
        tables: { tasks: { title: "text" } },
      };
      const planned = await openTables(options);
      expect(planned.migration.pending.map((c) => c.kind).sort()).toEqual([
        "removed-column",
        "removed-table",
      ]);
      await planned.close();
      const applied = await openTables({ ...options, apply: true });
      expect(applied.migration.done.length).toBe(2);
      await applied.close();
      const after = await openTables({
        ...options,
        tables: { tasks: { title: "text", old: "number" }, gone: { x: "text" } },
      });
      expect((await after.tables.tasks.getById(task.id))!.old).toBeNull();
      expect(await after.tables.gone.search().count()).toBe(0);
      await after.close();
    });

    it("bad schemas are KILN_BAD_CONFIG errors naming table and column", async () => {
      const bad: Record<string, unknown>[] = [
        { tasks: { title: "string" } },
        { tasks: { owner: "link nowhere" } },
        { tasks: { id: "text" } },
        { tasks: { update: "text" } },
        { "bad name": { x: "text" } },
        { tasks: { x: { type: "text", index: "yes" } } },
        // unique is an option now (see unique.test.ts); primary is still unknown.
        { tasks: { x: { type: "text", primary: true } } },
        { tasks: { x: "text", X: "number" } },
        { get: { x: "text" } },
      ];
      for (const tables of bad) {
        const error = await tablesApp(dialect, tables).catch((e: unknown) => e);
        expect(error, JSON.stringify(tables)).toMatchObject({ code: "KILN_BAD_CONFIG" });
      }
    });

    it("several apps starting together on a new database all start, and migrate once", async () => {
      const database = await dialect.freshDatabase();
      const schema = {
        tasks: { title: "text", owner: "link users", tags: { type: "links users", index: true } },
      };
      const options = {
        builtIns: builtInTables,
        dataDir: database.dataDir,
        databaseUrl: database.databaseUrl,
        tables: schema,
      };
      // SQLite: one process opens its file once (see "processes starting together" below).
      const count = database.databaseUrl ? 3 : 1;
      const services = await Promise.all(Array.from({ length: count }, () => openTables(options)));
      await Promise.all(services.map((s) => s.tables.tasks.addRow({ title: "x" })));
      expect(await services[0]!.tables.tasks.search().count()).toBe(count);
      expect(new Set(services.map((s) => s.table("tasks").tableId)).size).toBe(1);
      for (const service of services) await service.close();
      await database.cleanup();
    });

    it("indexed columns (index: true) work like any other", async () => {
      const { tables } = await tablesApp(dialect, {
        tasks: { title: { type: "text", index: true }, n: { type: "number", indexed: true } },
      });
      await tables.tasks.addRow({ title: "a", n: 1 });
      expect(await tables.tasks.search({ title: "a", n: 1 }).count()).toBe(1);
    });
  });
}

describe("sqlite: processes starting together", () => {
  it("two processes migrating a new database at once both start, and the schema is made once", async () => {
    const [sqlite] = await testDialects();
    const database = await sqlite!.freshDatabase();
    const script = join(database.dataDir, "start.mts");
    writeFileSync(
      script,
      `import { builtInTables } from ${JSON.stringify(join(import.meta.dirname, "../../src/app/built-in-tables.ts"))};
import { openTables } from ${JSON.stringify(join(import.meta.dirname, "../../src/tables/index.ts"))};
const service = await openTables({ builtIns: builtInTables, dataDir: ${JSON.stringify(database.dataDir)}, tables: { tasks: { title: "text", owner: "link users" } } });
await service.tables.tasks.addRow({ title: String(process.pid) });
await service.close();
`,
    );
    const codes = await Promise.all(
      [1, 2].map(
        () =>
          new Promise<number | null>((resolve) => {
            const child = spawn(process.execPath, ["--import", "tsx", script], {
              stdio: "inherit",
            });
            child.on("exit", resolve);
          }),
      ),
    );
    expect(codes).toEqual([0, 0]);
    const service = await openTables({
      builtIns: builtInTables,
      dataDir: database.dataDir,
      tables: { tasks: { title: "text", owner: "link users" } },
    });
    expect(await service.tables.tasks.search().count()).toBe(2);
    await service.close();
    await database.cleanup();
  });
});
