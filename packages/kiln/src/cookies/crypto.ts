import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Sealing and opening cookie values: AES-256-GCM under a key derived with HKDF-SHA256 from a
 * secret. The browser gets
 *
 *   base64url( version (1 byte, 0x01) | expiry (4 bytes, Unix seconds, big-endian)
 *              | nonce (12 random bytes) | ciphertext | GCM tag (16 bytes) )
 *
 * and the additional authenticated data is `"kiln-cookie\0" + cookie name + "\0"` followed by
 * the version and expiry bytes. So a value cannot be read, changed, truncated, kept past its
 * expiry, or moved under another cookie name (or from a local to a shared cookie, whose names
 * differ) without failing authentication; whatever fails reads as absent.
 *
 * Random 96-bit nonces are safe far beyond the number of cookies an app will ever write under
 * one key (the birthday bound is around 2^48 values; NIST caps random nonces at 2^32 per key).
 */

const VERSION = 0x01;
const HEADER = 1 + 4;
const NONCE = 12;
const TAG = 16;
/** Smallest well-formed sealed value: header, nonce and tag around an empty ciphertext. */
const MIN_SEALED = HEADER + NONCE + TAG;
const AAD_PREFIX = Buffer.from("kiln-cookie\0", "utf8");
/** Fixed salt: the secret is already random; the salt only separates Kiln's use of it. */
const HKDF_SALT = Buffer.from("kiln cookies v1", "utf8");

/** One derived key per secret, newest first: seal with the first, open with any. */
export interface CookieKeyring {
  readonly keys: readonly Buffer[];
}

/**
 * Derives a keyring from secrets (newest first). `purpose` separates the key families made
 * from one secret ("local", "shared"), so one secret never yields the same key twice.
 * @example const ring = deriveKeyring([app.secret, ...previous], "local");
 */
export function deriveKeyring(secrets: readonly string[], purpose: string): CookieKeyring {
  const keys = secrets.map((secret) =>
    Buffer.from(hkdfSync("sha256", Buffer.from(secret, "utf8"), HKDF_SALT, purpose, 32)),
  );
  return { keys };
}

/**
 * Encrypts and authenticates `plaintext` for the cookie `name`, valid until `expiresAt`
 * (Unix seconds).
 */
export function seal(
  ring: CookieKeyring,
  name: string,
  plaintext: string,
  expiresAt: number,
): string {
  const key = ring.keys[0];
  if (!key) throw new Error("seal: the keyring is empty");
  const header = Buffer.alloc(HEADER);
  header.writeUInt8(VERSION, 0);
  header.writeUInt32BE(clampSeconds(expiresAt), 1);
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(aad(name, header));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([header, nonce, body, cipher.getAuthTag()]).toString("base64url");
}

/**
 * Opens a sealed value of cookie `name`, or returns null when it is malformed, tampered with,
 * sealed under a key the ring does not hold, sealed for another name, or expired at `now`.
 */
export function open(
  ring: CookieKeyring,
  name: string,
  sealed: string,
  now: number = Date.now() / 1000,
): string | null {
  if (!/^[A-Za-z0-9_-]+$/.test(sealed)) return null;
  const bytes = Buffer.from(sealed, "base64url");
  if (bytes.length < MIN_SEALED || bytes.readUInt8(0) !== VERSION) return null;
  // Only the canonical encoding: Node ignores stray trailing characters, so without this an
  // edited cookie could still read as the original.
  if (bytes.toString("base64url") !== sealed) return null;
  const header = bytes.subarray(0, HEADER);
  // The expiry is checked before decrypting, but trusted only because GCM authenticates it.
  if (header.readUInt32BE(1) <= now) return null;
  const nonce = bytes.subarray(HEADER, HEADER + NONCE);
  const body = bytes.subarray(HEADER + NONCE, bytes.length - TAG);
  const tag = bytes.subarray(bytes.length - TAG);
  const additional = aad(name, header);
  for (const key of ring.keys) {
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, nonce);
      decipher.setAAD(additional);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
    } catch {
      // Wrong key or tampered: try the next (older) key, then give up.
    }
  }
  return null;
}

/** Length in characters of a sealed value holding `plaintextBytes` bytes. */
export function sealedLength(plaintextBytes: number): number {
  return Math.ceil(((MIN_SEALED + plaintextBytes) * 4) / 3);
}

function aad(name: string, header: Buffer): Buffer {
  return Buffer.concat([AAD_PREFIX, Buffer.from(`${name}\0`, "utf8"), header]);
}

function clampSeconds(seconds: number): number {
  return Math.min(0xffffffff, Math.max(0, Math.floor(seconds)));
}
