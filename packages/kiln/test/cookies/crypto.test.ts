import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { deriveKeyring, open, seal } from "../../src/cookies/crypto.ts";

const SECRET = "an-app-secret-of-some-length";
const ring = deriveKeyring([SECRET], "local");
const now = 1_700_000_000;
const later = now + 3600;

describe("cookie sealing (AES-256-GCM, HKDF keys)", () => {
  it("opens what it sealed, for the same name, before the expiry", () => {
    const sealed = seal(ring, "kiln.app.prefs", '{"a":1}', later);
    expect(open(ring, "kiln.app.prefs", sealed, now)).toBe('{"a":1}');
  });

  it("lays out version 1, the expiry, a 12-byte nonce, the ciphertext and a 16-byte tag", () => {
    const bytes = Buffer.from(seal(ring, "n", "abc", later), "base64url");
    expect(bytes[0]).toBe(1);
    expect(bytes.readUInt32BE(1)).toBe(later);
    expect(bytes.length).toBe(1 + 4 + 12 + 3 + 16);
  });

  it("uses a fresh nonce each time, so equal values do not look equal", () => {
    expect(seal(ring, "n", "same", later)).not.toBe(seal(ring, "n", "same", later));
  });

  it("reads any single-bit change as absent", () => {
    const sealed = Buffer.from(seal(ring, "n", "secret value", later), "base64url");
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const copy = Buffer.from(sealed);
      copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      expect(open(ring, "n", copy.toString("base64url"), now)).toBeNull();
    }
  });

  it("reads a truncated, extended, empty or non-base64url value as absent", () => {
    const sealed = seal(ring, "n", "value", later);
    for (let cut = 0; cut < sealed.length; cut++) {
      expect(open(ring, "n", sealed.slice(0, cut), now)).toBeNull();
    }
    expect(open(ring, "n", `${sealed}A`, now)).toBeNull();
    // A stray trailing character that Node's decoder would silently drop.
    expect(open(ring, "n", `${sealed}x`, now)).toBeNull();
    expect(open(ring, "n", `${sealed.slice(0, 10)}%${sealed.slice(11)}`, now)).toBeNull();
  });

  it("binds the cookie name: a value moved under another name reads as absent", () => {
    const sealed = seal(ring, "kiln.app.role", '"user"', later);
    expect(open(ring, "kiln.app.admin", sealed, now)).toBeNull();
    expect(open(ring, "kiln.app.role", sealed, now)).toBe('"user"');
  });

  it("binds the expiry: an expired value is absent, and rewriting the expiry breaks the tag", () => {
    const sealed = seal(ring, "n", "v", now + 10);
    expect(open(ring, "n", sealed, now + 10)).toBeNull();
    const bytes = Buffer.from(sealed, "base64url");
    bytes.writeUInt32BE(later, 1);
    expect(open(ring, "n", bytes.toString("base64url"), now)).toBeNull();
  });

  it("keeps local and shared keys apart even under one secret", () => {
    const shared = deriveKeyring([SECRET], "shared");
    expect(open(shared, "n", seal(ring, "n", "v", later), now)).toBeNull();
  });

  it("reads values sealed under an older secret after a rotation (newest first)", () => {
    const old = deriveKeyring(["the-old-secret-0123456789"], "local");
    const rotated = deriveKeyring([SECRET, "the-old-secret-0123456789"], "local");
    const sealedOld = seal(old, "n", "from before", later);
    expect(open(rotated, "n", sealedOld, now)).toBe("from before");
    // New values are sealed with the newest secret: the old ring alone cannot read them.
    expect(open(old, "n", seal(rotated, "n", "new", later), now)).toBeNull();
    expect(open(ring, "n", sealedOld, now)).toBeNull();
  });

  it("round-trips any string (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ minLength: 1 }), (value, name) => {
        expect(open(ring, name, seal(ring, name, value, later), now)).toBe(value);
      }),
    );
  });
});
