import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import type { Row } from "../../src/index.ts";
import type { TablesService } from "../../src/tables/index.ts";
import { testDialects } from "../support/dialects.ts";
import { type TablesTestApp, tablesApp } from "./tables-test-app.ts";

const SCHEMA = { articles: { title: "text", fans: "links users" } };
// With a column that each change sets, addLink is two statements in a read committed transaction.
const TOUCHED = {
  articles: { ...SCHEMA.articles, updated: { type: "datetime", onUpdate: "now" } },
};

/**
 * Runs `operation` while another transaction has deleted `victim` and not yet committed, and
 * commits that delete only once the operation is waiting for it (on PostgreSQL, blocked on the
 * deleted row's lock; SQLite has one writer, so the operation simply runs after the commit).
 * What the operation resolved to, or the error it threw.
 */
async function whileDeleting(
  { service, inTransaction }: TablesTestApp,
  victim: Row,
  operation: () => Promise<unknown>,
): Promise<unknown> {
  let deleted!: (pid: number) => void;
  const deletedNow = new Promise<number>((resolve) => {
    deleted = resolve;
  });
  let commit!: () => void;
  const committing = new Promise<void>((resolve) => {
    commit = resolve;
  });
  const deleting = inTransaction(async () => {
    await victim.delete();
    const pid =
      service.dialectName === "postgres"
        ? (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(service.db)).rows[0]!
            .pid
        : 0;
    deleted(pid);
    await committing;
  });
  const pid = await deletedNow;
  const outcome = operation().then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (service.dialectName === "postgres") await blockedBy(service, pid);
  commit();
  await deleting;
  const settled = await outcome;
  if ("error" in settled) throw settled.error;
  return settled.value;
}

/** Waits until a query of another connection waits for a lock the backend `pid` holds. */
async function blockedBy(service: TablesService, pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from pg_stat_activity where ${pid} = any(pg_blocking_pids(pid))`.execute(
      service.db,
    );
    if (rows[0]!.n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no query waited for the deleting transaction (backend ${pid}) within 10 s`);
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: addLink racing a delete`, () => {
    it.each([
      ["", SCHEMA],
      [" (with onUpdate: now)", TOUCHED],
    ])(
      "addLink to a row deleted meanwhile by another transaction is KILN_ROW_DELETED, not a database error%s",
      async (_, schema) => {
        const test = await tablesApp(dialect, schema);
        const { tables } = test;
        const article = await tables.articles.addRow({ title: "t" });
        const [fan] = await tables.users.addRows([{ email: "fan@example.com" }]);
        await expect(
          whileDeleting(test, article, () => tables.articles.addLink(article, "fans", fan!)),
        ).rejects.toMatchObject({ code: "KILN_ROW_DELETED", table: "articles" });
        expect(await tables.articles.getById(article.id)).toBeNull();
      },
    );

    it("inside inTransaction, the conflict is retried and then KILN_ROW_DELETED", async () => {
      const test = await tablesApp(dialect, TOUCHED);
      const { tables, inTransaction } = test;
      const article = await tables.articles.addRow({ title: "t" });
      const [fan] = await tables.users.addRows([{ email: "fan@example.com" }]);
      await expect(
        whileDeleting(test, article, () =>
          inTransaction(() => tables.articles.addLink(article, "fans", fan!)),
        ),
      ).rejects.toMatchObject({ code: "KILN_ROW_DELETED", table: "articles" });
    });

    it.each([
      ["", SCHEMA],
      [" (with onUpdate: now)", TOUCHED],
    ])(
      "addLink of a row deleted meanwhile by another transaction adds nothing, as when it was deleted before%s",
      async (_, schema) => {
        const test = await tablesApp(dialect, schema);
        const { tables } = test;
        const article = await tables.articles.addRow({ title: "t" });
        const [fan, gone] = await tables.users.addRows([
          { email: "fan@example.com" },
          { email: "gone@example.com" },
        ]);
        await tables.articles.addLink(article, "fans", fan!);
        await whileDeleting(test, gone!, () => tables.articles.addLink(article, "fans", gone!));
        const read = await tables.articles.getById(article.id);
        expect((read!.fans as Row[]).map((r) => r.email)).toEqual(["fan@example.com"]);
        expect(await tables.articles.countLinks(article, "fans")).toBe(1);
        // The same as adding a link to a row deleted before: nothing is added, nothing thrown.
        await tables.articles.addLink(read!, "fans", gone!);
        expect(await tables.articles.countLinks(article, "fans")).toBe(1);
      },
    );
  });
}
