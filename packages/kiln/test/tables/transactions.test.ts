import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KilnError } from "../../src/index.ts";
import { MAX_ATTEMPTS } from "../../src/tables/transaction.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const SCHEMA = { accounts: { name: "text", balance: "number" } };

/** An error the dialect treats as a serialisation conflict. */
function conflict(dialect: string): Error {
  return Object.assign(new Error("simulated conflict"), {
    code: dialect === "sqlite" ? "SQLITE_BUSY" : "40001",
  });
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: inTransaction`, () => {
    it("commits everything fn did, and returns fn's value", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      const result = await inTransaction(async () => {
        await tables.accounts.addRow({ name: "a", balance: 10 });
        await tables.accounts.addRow({ name: "b", balance: 20 });
        return "done";
      });
      expect(result).toBe("done");
      expect(await tables.accounts.search().count()).toBe(2);
    });

    it("an error rolls everything back, nested calls included, and is rethrown", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      const kept = await tables.accounts.addRow({ name: "kept", balance: 1 });
      const error = await inTransaction(async () => {
        await tables.accounts.addRow({ name: "a" });
        await kept.update({ balance: 999 });
        await inTransaction(() => tables.accounts.addRow({ name: "nested" }));
        throw new Error("boom");
      }).catch((e: unknown) => e);
      expect((error as Error).message).toBe("boom");
      expect((await tables.accounts.search().toArray()).map((r) => r.name)).toEqual(["kept"]);
      expect((await tables.accounts.getById(kept.id))!.balance).toBe(1);
    });

    it("a nested call joins the outer transaction: it sees its writes and commits with it", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      await inTransaction(async () => {
        await tables.accounts.addRow({ name: "outer" });
        const seen = await inTransaction(() => tables.accounts.search().count());
        expect(seen).toBe(1);
        await inTransaction(() => tables.accounts.addRow({ name: "inner" }));
      });
      expect(await tables.accounts.search().count()).toBe(2);
    });

    it("the service's Kysely db joins the transaction too", async () => {
      const { service, tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      await service.db.schema
        .createTable("svc_counter")
        .ifNotExists()
        .addColumn("n", "integer")
        .execute();
      const undo = new Error("undo both");
      const outcome = inTransaction(async () => {
        await service.db.insertInto("svc_counter").values({ n: 1 }).execute();
        await tables.accounts.addRow({ name: "x" });
        throw undo;
      });
      // The transaction failed for the reason given, not because a query in it did.
      await expect(outcome).rejects.toBe(undo);
      expect(await service.db.selectFrom("svc_counter").selectAll().execute()).toEqual([]);
      expect(await tables.accounts.search().count()).toBe(0);
    });

    it("Kysely's own db.transaction() inside inTransaction joins it instead of committing early", async () => {
      const { service, tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      const undo = new Error("undo both");
      let seenInside = -1;
      const outcome = inTransaction(async () => {
        await service.db.transaction().execute(async (trx) => {
          await trx.insertInto("data_accounts").values({ name: "inner" }).execute();
        });
        await tables.accounts.addRow({ name: "outer" });
        seenInside = await tables.accounts.search().count();
        throw undo;
      });
      // Nested, it neither failed (a BEGIN inside a transaction) nor committed on its own.
      await expect(outcome).rejects.toBe(undo);
      expect(seenInside).toBe(2);
    });

    it("concurrent read-modify-write transactions never lose an update", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      const account = await tables.accounts.addRow({ name: "a", balance: 0 });
      await Promise.all(
        Array.from({ length: 5 }, () =>
          inTransaction(async () => {
            const row = await tables.accounts.getById(account.id);
            await new Promise((resolve) => setTimeout(resolve, 5));
            await row!.update({ balance: (row!.balance as number) + 1 });
          }),
        ),
      );
      expect((await tables.accounts.getById(account.id))!.balance).toBe(5);
    });

    it("a conflict makes fn run again; persistent conflicts give KILN_DATABASE_BUSY", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      let runs = 0;
      const result = await inTransaction(async () => {
        runs++;
        await tables.accounts.addRow({ name: `attempt ${runs}` });
        if (runs < 3) throw conflict(dialect.name);
        return runs;
      });
      expect(result).toBe(3);
      expect((await tables.accounts.search().toArray()).map((r) => r.name)).toEqual(["attempt 3"]);
      runs = 0;
      const error = await inTransaction(async () => {
        runs++;
        throw conflict(dialect.name);
      }).catch((e: unknown) => e);
      expect(runs).toBe(MAX_ATTEMPTS);
      expect(error).toBeInstanceOf(KilnError);
      expect(error).toMatchObject({ code: "KILN_DATABASE_BUSY" });
    });

    it("other errors are not retried", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, SCHEMA);
      let runs = 0;
      const outcome = inTransaction(async () => {
        runs++;
        await tables.accounts.addRow({ nope: 1 });
      });
      await expect(outcome).rejects.toMatchObject({ code: "KILN_UNKNOWN_COLUMN" });
      expect(runs).toBe(1);
    });
  });
}

describe("sqlite: two processes on one database file", () => {
  it("both write at the same time, and every row lands", async () => {
    const [sqlite] = await testDialects();
    const { database, tables } = await tablesApp(sqlite!, SCHEMA);
    const script = join(database.dataDir, "writer.mts");
    writeFileSync(
      script,
      `import { builtInTables } from ${JSON.stringify(join(import.meta.dirname, "../../src/app/built-in-tables.ts"))};
import { openTables } from ${JSON.stringify(join(import.meta.dirname, "../../src/tables/index.ts"))};
const service = await openTables({ builtIns: builtInTables, dataDir: ${JSON.stringify(database.dataDir)}, tables: ${JSON.stringify(SCHEMA)} });
for (let i = 0; i < 150; i++) {
  if (i % 10 === 0) await service.inTransaction(async () => { for (let j = 0; j < 5; j++) await service.tables.accounts.addRow({ name: "child" }); });
  else await service.tables.accounts.addRow({ name: "child" });
}
await service.close();
`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    for (let i = 0; i < 150; i++) await tables.accounts.addRow({ name: "parent" });
    expect(await exited, stderr).toBe(0);
    expect(await tables.accounts.search({ name: "parent" }).count()).toBe(150);
    expect(await tables.accounts.search({ name: "child" }).count()).toBe(135 + 15 * 5);
  });
});
