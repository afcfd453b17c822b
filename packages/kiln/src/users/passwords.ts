import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/**
 * scrypt cost parameters. `N` (CPU and memory cost, a power of two), `r` (block size), `p`
 * (parallelism); memory used is 128·N·r bytes. The defaults (N=2^15, r=8, p=1: 32 MiB, about
 * 100 ms on a small server core) sit above Django's scrypt default; raise them in kiln.yaml
 * (`services.users.scrypt`) and old hashes are re-hashed at each user's next login.
 */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** `$scrypt$N=32768,r=8,p=1$<salt>$<key>`, base64 without padding (as PHC strings do). */
const ENCODED = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

interface DecodedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

/** Checks that params are usable by scrypt; throws a RangeError naming the bad one. */
export function checkScryptParams(params: ScryptParams): ScryptParams {
  const { N, r, p } = params;
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 24) {
    throw new RangeError(`scrypt N must be a power of two from 2 to 2^24, got ${N}`);
  }
  if (!Number.isInteger(r) || r < 1 || r > 64)
    throw new RangeError(`scrypt r must be 1..64, got ${r}`);
  if (!Number.isInteger(p) || p < 1 || p > 16)
    throw new RangeError(`scrypt p must be 1..16, got ${p}`);
  return params;
}

/**
 * Hashes a password with a fresh random salt; the result carries its parameters and salt.
 * Runs on libuv's thread pool, so the event loop keeps serving other requests meanwhile.
 * @example const stored = await hashPassword("correct horse battery staple");
 */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT,
): Promise<string> {
  checkScryptParams(params);
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, params);
  return `$scrypt$N=${params.N},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

/**
 * True when `password` matches `encoded`. A malformed or foreign hash is simply false (after
 * the same work as a real check, so it answers in about the same time). Constant-time compare.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const decoded = decodeHash(encoded);
  if (!decoded) {
    await derive(password, DUMMY_SALT, DEFAULT_SCRYPT);
    return false;
  }
  const key = await derive(password, decoded.salt, decoded.params);
  return key.length === decoded.key.length && timingSafeEqual(key, decoded.key);
}

/** True when `encoded` was made with weaker parameters than `params` (or is unreadable). */
export function needsRehash(encoded: string, params: ScryptParams = DEFAULT_SCRYPT): boolean {
  const decoded = decodeHash(encoded);
  if (!decoded) return true;
  const old = decoded.params;
  return (
    old.N < params.N || old.r < params.r || old.p < params.p || decoded.key.length < KEY_LENGTH
  );
}

/** The parameters a stored hash was made with, or null when it is not a Kiln scrypt hash. */
export function hashParams(encoded: string): ScryptParams | null {
  return decodeHash(encoded)?.params ?? null;
}

/**
 * A hash of a random password nobody knows, with given parameters: checking a password
 * against it costs what a real check costs, so an unknown email takes as long as a wrong
 * password and the answer's timing does not tell whether an account exists.
 */
export function dummyHash(params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  return hashPassword(randomBytes(24).toString("base64"), params);
}

const DUMMY_SALT = randomBytes(SALT_LENGTH);

function decodeHash(encoded: string): DecodedHash | null {
  if (typeof encoded !== "string") return null;
  const match = ENCODED.exec(encoded);
  if (!match) return null;
  const params = { N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  try {
    checkScryptParams(params);
  } catch {
    return null;
  }
  return { params, salt: Buffer.from(match[4]!, "base64"), key: Buffer.from(match[5]!, "base64") };
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  // maxmem must exceed 128·N·r or Node refuses; leave headroom for the p lanes' buffers.
  const maxmem = 128 * params.N * params.r * 2 + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, KEY_LENGTH, { ...params, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

function b64(bytes: Buffer): string {
  return bytes.toString("base64").replace(/=+$/, "");
}
