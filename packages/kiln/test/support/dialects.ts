import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPgSchema, pgTestsEnabled } from "./pg.ts";

/** Where a test's database lives: what to pass to createApp / openTables. */
export interface TestDatabase {
  readonly dataDir: string;
  readonly databaseUrl?: string;
  /** Removes the database (the temp folder; the PostgreSQL schema). */
  cleanup(): Promise<void>;
}

/** A backend the shared tables suite runs against. */
export interface TestDialect {
  readonly name: "sqlite" | "postgres";
  /** A fresh, empty database. */
  freshDatabase(): Promise<TestDatabase>;
}

const sqlite: TestDialect = {
  name: "sqlite",
  async freshDatabase() {
    const dataDir = mkdtempSync(join(tmpdir(), "kiln-tables-"));
    return { dataDir, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
  },
};

const postgres: TestDialect = {
  name: "postgres",
  async freshDatabase() {
    // The data folder still holds the app's secret key; the tables live in the schema.
    const dataDir = mkdtempSync(join(tmpdir(), "kiln-tables-pg-"));
    const { url, drop } = await createPgSchema();
    return {
      dataDir,
      databaseUrl: url,
      cleanup: async () => {
        await drop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

/**
 * The backends to run the tables suite against: SQLite always, PostgreSQL when available
 * (see pg.ts for KILN_TEST_PG).
 * @example for (const dialect of await testDialects()) describe(`${dialect.name}: search`, ...)
 */
export async function testDialects(): Promise<TestDialect[]> {
  return (await pgTestsEnabled()) ? [sqlite, postgres] : [sqlite];
}
