import { describe, expect, it } from "vitest";
import {
  hashParams,
  hashPassword,
  needsRehash,
  verifyPassword,
} from "../../src/users/passwords.ts";

const FAST = { N: 1024, r: 8, p: 1 };

describe("password hashing", () => {
  it("verifies the right password and rejects a wrong one", async () => {
    const stored = await hashPassword("correct horse", FAST);
    expect(await verifyPassword("correct horse", stored)).toBe(true);
    expect(await verifyPassword("correct hors", stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
  });

  it("salts every hash and stores its parameters with it", async () => {
    const a = await hashPassword("same", FAST);
    const b = await hashPassword("same", FAST);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^\$scrypt\$N=1024,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    expect(hashParams(a)).toEqual(FAST);
    expect(a).not.toContain("same");
  });

  it("asks for a re-hash when the configured parameters were raised", async () => {
    const stored = await hashPassword("pw", FAST);
    expect(needsRehash(stored, FAST)).toBe(false);
    expect(needsRehash(stored, { ...FAST, N: 2048 })).toBe(true);
    expect(needsRehash(stored, { ...FAST, p: 2 })).toBe(true);
    expect(needsRehash("not a hash", FAST)).toBe(true);
  });

  it("treats a malformed stored hash as a mismatch, not an error", async () => {
    expect(await verifyPassword("pw", "")).toBe(false);
    expect(await verifyPassword("pw", "$scrypt$N=3,r=8,p=1$AAAA$AAAA")).toBe(false);
    expect(await verifyPassword("pw", "$2b$10$bcrypt-looking")).toBe(false);
  });

  it("compares Unicode passwords after NFC normalisation", async () => {
    const stored = await hashPassword("caf\u00e9", FAST);
    expect(await verifyPassword("cafe\u0301", stored)).toBe(true);
  });
});
