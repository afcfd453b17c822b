import { scryptSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/index.ts";

/**
 * What an app that configures nothing stores: every other users test lowers scrypt's cost to
 * stay fast, so only this one would notice the default cost dropping. It reads the hash back
 * from the database file itself, as someone with a copy of it would.
 */

const dataDir = mkdtempSync(join(tmpdir(), "kiln-password-cost-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const PASSWORD = "correct horse battery staple";
/** The floor docs/security.md promises: N=2^15, r=8 (32 MiB of memory per hash), p=1. */
const MIN_MEMORY_BYTES = 32 * 1024 * 1024;

describe("the default password hash", () => {
  it("is scrypt N=2^15, r=8, p=1 (32 MiB per hash), 16 bytes of salt, a 32-byte key", async () => {
    const app = createApp({ name: "cost", dataDir, logger: false });
    try {
      await app.ready();
      await app.users.addUser("ada@example.com", PASSWORD);
    } finally {
      await app.close();
    }
    const file = new Database(join(dataDir, "app.db"), { readonly: true });
    const { passwordHash } = file
      .prepare("select passwordHash from data_users where email = ?")
      .get("ada@example.com") as { passwordHash: string };
    file.close();

    const match = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([^$]+)\$([^$]+)$/.exec(passwordHash);
    expect(match).not.toBeNull();
    const [, n, r, p, salt, key] = match as unknown as string[];
    const params = { N: Number(n), r: Number(r), p: Number(p) };
    expect(params).toEqual({ N: 2 ** 15, r: 8, p: 1 });
    expect(128 * params.N * params.r * params.p).toBeGreaterThanOrEqual(MIN_MEMORY_BYTES);
    expect(Buffer.from(salt as string, "base64")).toHaveLength(16);
    // The stored key is really what scrypt gives at the stored cost (not a cheaper hash
    // labelled with expensive parameters).
    const derived = scryptSync(PASSWORD, Buffer.from(salt as string, "base64"), 32, {
      ...params,
      maxmem: 2 * 128 * params.N * params.r * params.p,
    });
    expect(derived.toString("base64").replace(/=+$/, "")).toBe(key);
  });
});
