import { hash, randomBytes } from "node:crypto";

export interface CredentialMemoryOptions {
  /** Most credentials remembered at once; the least recently used go first. Default 10,000. */
  maxEntries?: number;
  /** How long a verified credential is remembered, in ms. Default 5 minutes. */
  ttlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * Remembers Basic credentials that were verified, so a client sending the same correct
 * credentials on every request pays one scrypt, not one per request.
 *
 * Only successes are remembered, under a keyed SHA-256 (a random key made per process and never
 * stored, then email, password and stored hash) of (email, password, stored hash). So:
 * - nothing here reveals a password: a memory dump holds keyed digests only;
 * - a changed password changes the stored hash, which changes the digest: the old entry can
 *   no longer match, in every process at once, with no invalidation message. The caller loads
 *   the user row on each request anyway (one indexed query) and also checks `enabled`;
 * - a wrong password can never hit, so guessing still pays the full KDF.
 * The lookup is a Map lookup on the digest; its timing depends only on a value an attacker
 * cannot compute without the key, so it leaks nothing about the password.
 */
export class CredentialMemory {
  readonly #key = randomBytes(32).toString("base64");
  readonly #entries = new Map<string, number>();
  readonly #max: number;
  readonly #ttl: number;
  readonly #now: () => number;

  constructor(options: CredentialMemoryOptions = {}) {
    this.#max = options.maxEntries ?? 10_000;
    this.#ttl = options.ttlMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Records that `password` is correct for `email` while its stored hash is `storedHash`. */
  remember(email: string, password: string, storedHash: string): void {
    if (this.#max <= 0 || this.#ttl <= 0) return;
    const digest = this.#digest(email, password, storedHash);
    this.#entries.delete(digest);
    this.#entries.set(digest, this.#now() + this.#ttl);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  /** True when this exact (email, password, stored hash) was verified within the TTL. */
  recall(email: string, password: string, storedHash: string): boolean {
    if (this.#entries.size === 0) return false;
    const digest = this.#digest(email, password, storedHash);
    const expires = this.#entries.get(digest);
    if (expires === undefined) return false;
    this.#entries.delete(digest);
    if (expires <= this.#now()) return false;
    this.#entries.set(digest, expires); // most recently used goes last
    return true;
  }

  /** Forgets everything (tests, or a deliberate purge). */
  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #digest(email: string, password: string, storedHash: string): string {
    // Lengths first, so ("a:b", "c") and ("a", "b:c") can never collide. The key goes first
    // and the digest never leaves this Map, so a prefix key does what an HMAC would (no one
    // sees a digest to extend), at the cost of one one-shot hash: an HMAC object costs several
    // times more, on every request with Basic credentials.
    const message = `${this.#key}${email.length}:${password.length}:${storedHash.length}:${email}${password}${storedHash}`;
    return hash("sha256", message, "base64");
  }
}
