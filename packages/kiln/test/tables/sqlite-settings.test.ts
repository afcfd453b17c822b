import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { type Kysely, sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/index.ts";

/**
 * The SQLite settings the docs promise (README "Durability and several processes",
 * docs/security.md "Durability"), read back from the connection Kiln itself opened: most
 * pragmas belong to a connection, so reading them through another would prove nothing. A
 * crash test cannot tell synchronous=OFF from FULL (SIGKILL loses nothing either way; only a
 * power cut would), so this is the test that keeps FULL the default.
 */

const opened: { close(): Promise<void>; dir: string }[] = [];
afterEach(async () => {
  for (const app of opened.splice(0)) {
    await app.close();
    rmSync(app.dir, { recursive: true, force: true });
  }
});

async function kilnConnection(
  env: Record<string, string> = {},
): Promise<{ db: Kysely<unknown>; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "kiln-sqlite-settings-"));
  const app = createApp({ name: "settings", dataDir: dir, logger: false, env });
  opened.push({ close: () => app.close(), dir });
  await app.ready();
  return { db: app.services.tables!.systemDb, dir };
}

async function pragma(db: Kysely<unknown>, name: string): Promise<unknown> {
  const { rows } = await sql.raw<Record<string, unknown>>(`PRAGMA ${name}`).execute(db);
  return Object.values(rows[0] ?? {})[0];
}

describe("SQLite as Kiln opens it", () => {
  it("is in WAL mode, synchronous=FULL, and waits 5 s for another process's lock", async () => {
    const { db, dir } = await kilnConnection();
    expect(await pragma(db, "journal_mode")).toBe("wal");
    expect(await pragma(db, "synchronous")).toBe(2); // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
    expect(await pragma(db, "busy_timeout")).toBe(5000);
    // WAL is a property of the file: any other process opening it uses it too.
    const other = new Database(join(dir, "app.db"), { readonly: true });
    expect(other.pragma("journal_mode", { simple: true })).toBe("wal");
    other.close();
  });

  it("KILN_SQLITE_SYNCHRONOUS=normal is the one way to NORMAL; anything but full is refused", async () => {
    const normal = await kilnConnection({ KILN_SQLITE_SYNCHRONOUS: "normal" });
    expect(await pragma(normal.db, "synchronous")).toBe(1);
    const full = await kilnConnection({ KILN_SQLITE_SYNCHRONOUS: "FULL" });
    expect(await pragma(full.db, "synchronous")).toBe(2);
    // Never a silent default for what a write promises: "off" is not quietly made FULL.
    await expect(kilnConnection({ KILN_SQLITE_SYNCHRONOUS: "off" })).rejects.toMatchObject({
      code: "KILN_BAD_CONFIG",
      message: expect.stringContaining("KILN_SQLITE_SYNCHRONOUS"),
    });
  });
});
