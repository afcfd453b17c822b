import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/index.ts";

describe("tables before the app is ready", () => {
  it("is KILN_NOT_READY, and works once the app is ready", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "kiln-not-ready-"));
    const app = createApp({
      name: "early",
      tables: { tasks: { title: "text" } },
      dataDir,
      logger: false,
    });
    try {
      expect(() => app.tables.tasks).toThrow(expect.objectContaining({ code: "KILN_NOT_READY" }));
      expect(() => app.inTransaction(async () => 1)).toThrow(
        expect.objectContaining({ code: "KILN_NOT_READY" }),
      );
      await app.ready();
      await app.tables.tasks.addRow({ title: "now" });
      expect(await app.tables.tasks.search().count()).toBe(1);
      const health = await app.inject({ method: "GET", url: "/_/health" });
      expect(health.statusCode).toBe(200);
    } finally {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
