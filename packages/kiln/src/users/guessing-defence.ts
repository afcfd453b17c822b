import { createHash } from "node:crypto";
import { isIP, isIPv6 } from "node:net";
import { type Kysely, sql } from "kysely";
import type { GuessingSettings } from "./users-config.ts";

/** Kiln's own table of login failures, shared by every process of the app. */
export const FAILURES_TABLE = "kiln_login_failures";
/** The `address` of the row that counts an account's failures from everywhere. */
const EVERYWHERE = "*";

interface FailureRow {
  account: string;
  address: string;
  failures: number;
  last_failure_at: number;
  next_attempt_at: number;
  last_success_at: number;
}
type FailuresDb = Kysely<{ [FAILURES_TABLE]: FailureRow }>;

/** What one guarded login attempt came to. */
export type GuardOutcome =
  | { outcome: "ok" | "failed"; accountFailures: number }
  | { outcome: "throttled"; retryAfterSeconds: number };

/**
 * Slows, then blocks, password guessing (settings and numbers: users-config.ts), in a way
 * that cannot be turned against an account's owner: counters are per (account, client
 * address), so failures from elsewhere never block the owner's address; the per-account
 * ceiling only slows addresses that never logged in to the account.
 *
 * Accounts are keyed by the lower-cased email as typed (the users service passes its
 * fixed-size hash, `accountKey`), whether or not such a user exists,
 * so the answers never tell which emails have accounts. Attempts for one (account, address)
 * run one at a time in a process (a burst of parallel guesses cannot all slip through before
 * the first failure is counted); the counters live in the database, so every process of the
 * app sees the same ones.
 */
export class GuessingDefence {
  readonly #db: FailuresDb;
  readonly #settings: GuessingSettings;
  readonly #now: () => number;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** (account, address) pairs whose success was recorded lately, to write it once an hour. */
  readonly #noted = new Map<string, number>();

  constructor(db: Kysely<unknown>, settings: GuessingSettings, now: () => number = Date.now) {
    this.#db = db as unknown as FailuresDb;
    this.#settings = settings;
    this.#now = now;
  }

  /** Creates the failures table when missing (Kysely's schema builder: SQLite and PostgreSQL). */
  async ensureTable(): Promise<void> {
    try {
      await this.#db.schema
        .createTable(FAILURES_TABLE)
        .ifNotExists()
        .addColumn("account", "text", (c) => c.notNull())
        .addColumn("address", "text", (c) => c.notNull())
        .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("last_failure_at", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("next_attempt_at", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("last_success_at", "bigint", (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint(`${FAILURES_TABLE}_pk`, ["account", "address"])
        .execute();
    } catch (error) {
      // Two processes starting at once on PostgreSQL can race on IF NOT EXISTS; the loser's
      // error is harmless if the table is there now.
      const exists = await this.#db
        .selectFrom(FAILURES_TABLE)
        .select("account")
        .limit(1)
        .execute()
        .then(
          () => true,
          () => false,
        );
      if (!exists) throw error;
    }
  }

  /**
   * Runs `verify` (the password check) unless this (account, address) must wait, and counts
   * the outcome. `accountFailures` is the account's failure count from all addresses (0 when
   * quiet): the users service mirrors it into the user row's `nPasswordFailures`.
   */
  guard(account: string, address: string, verify: () => Promise<boolean>): Promise<GuardOutcome> {
    const key = `${address} ${account}`;
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.#attempt(account, address, verify));
    const tail = run.catch(() => undefined);
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return run;
  }

  /**
   * Records a success that did not go through `guard` (a remembered credential), at most once
   * an hour per (account, address) and process: it keeps the owner's address "known".
   * Returns the write's promise, or nothing when there is nothing to write (most requests:
   * no promise to make and catch then).
   */
  noteSuccess(account: string, address: string): Promise<void> | undefined {
    const key = `${address} ${account}`;
    const now = this.#now();
    const last = this.#noted.get(key);
    if (last !== undefined && now - last < 3_600_000) return undefined;
    if (this.#noted.size >= 10_000) this.#noted.clear();
    this.#noted.set(key, now);
    return this.#recordSuccess(account, address, now);
  }

  /**
   * One committed write that changes nothing (the account's own counter row, rewritten as
   * is): what a failure for an unknown email pays so that it costs the same time as one for a
   * known account, whose user row is updated.
   */
  async equivalentWrite(account: string): Promise<void> {
    await this.#db
      .updateTable(FAILURES_TABLE)
      .set({ failures: sql<number>`failures` })
      .where("account", "=", account)
      .where("address", "=", EVERYWHERE)
      .execute();
  }

  /** Deletes counters nobody needs any more: quiet for the forget period, and not a known address. */
  async forgetOld(): Promise<void> {
    const now = this.#now();
    const { forgetAfterMinutes, knownAddressDays } = this.#settings;
    await this.#db
      .deleteFrom(FAILURES_TABLE)
      .where("last_failure_at", "<", now - forgetAfterMinutes * 60_000)
      .where("last_success_at", "<", now - knownAddressDays * 86_400_000)
      .execute();
  }

  async #attempt(
    account: string,
    address: string,
    verify: () => Promise<boolean>,
  ): Promise<GuardOutcome> {
    const now = this.#now();
    const s = this.#settings;
    const rows = await this.#db
      .selectFrom(FAILURES_TABLE)
      .selectAll()
      .where("account", "=", account)
      .where("address", "in", [address, EVERYWHERE])
      .execute();
    const here = live(
      rows.find((r) => r.address === address),
      now,
      s,
    );
    const everywhere = live(
      rows.find((r) => r.address === EVERYWHERE),
      now,
      s,
    );

    if (here.failures > 0 && now < here.nextAttemptAt) {
      return throttled(here.nextAttemptAt - now);
    }
    const known = here.lastSuccessAt > now - s.knownAddressDays * 86_400_000;
    if (!known && everywhere.failures >= s.accountCeiling && s.accountCeiling > 0) {
      // Claim the account's next slot atomically: of simultaneous attempts from any process,
      // only one gets it.
      const claimed = await this.#db
        .updateTable(FAILURES_TABLE)
        .set({ next_attempt_at: now + s.accountSlowSeconds * 1000 })
        .where("account", "=", account)
        .where("address", "=", EVERYWHERE)
        .where("next_attempt_at", "<=", now)
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) === 0) {
        return throttled(Math.max(everywhere.nextAttemptAt - now, 1000));
      }
    }

    if (await verify()) {
      await this.#recordSuccess(account, address, now);
      return { outcome: "ok", accountFailures: everywhere.failures };
    }
    const hereCount = await this.#countFailure(account, address, now);
    const delay = this.#delayAfter(hereCount);
    if (delay > 0) {
      await this.#db
        .updateTable(FAILURES_TABLE)
        .set({ next_attempt_at: now + delay })
        .where("account", "=", account)
        .where("address", "=", address)
        .execute();
    }
    const accountCount = await this.#countFailure(account, EVERYWHERE, now);
    return { outcome: "failed", accountFailures: accountCount };
  }

  /** The wait before the next attempt after `failures` failures, in ms (0: none). */
  #delayAfter(failures: number): number {
    const s = this.#settings;
    if (failures >= s.blockAfter) return s.blockMinutes * 60_000;
    if (failures < s.freeFailures) return 0;
    const seconds = s.firstDelaySeconds * 2 ** (failures - s.freeFailures);
    return Math.min(seconds, s.maxDelaySeconds) * 1000;
  }

  /** Adds one failure atomically (in SQL, so concurrent processes never lose a count). */
  async #countFailure(account: string, address: string, now: number): Promise<number> {
    const stale = now - this.#settings.forgetAfterMinutes * 60_000;
    const column = (name: keyof FailureRow) => sql.ref(`${FAILURES_TABLE}.${name}`);
    const row = await this.#db
      .insertInto(FAILURES_TABLE)
      .values({
        account,
        address,
        failures: 1,
        last_failure_at: now,
        next_attempt_at: 0,
        last_success_at: 0,
      })
      .onConflict((oc) =>
        oc.columns(["account", "address"]).doUpdateSet({
          failures: sql<number>`CASE WHEN ${column("last_failure_at")} < ${stale} THEN 1 ELSE ${column("failures")} + 1 END`,
          last_failure_at: now,
        }),
      )
      .returning("failures")
      .executeTakeFirstOrThrow();
    return Number(row.failures);
  }

  async #recordSuccess(account: string, address: string, now: number): Promise<void> {
    await this.#db
      .insertInto(FAILURES_TABLE)
      .values({
        account,
        address,
        failures: 0,
        last_failure_at: 0,
        next_attempt_at: 0,
        last_success_at: now,
      })
      .onConflict((oc) =>
        oc
          .columns(["account", "address"])
          .doUpdateSet({ failures: 0, next_attempt_at: 0, last_success_at: now }),
      )
      .execute();
  }
}

interface LiveCounters {
  failures: number;
  nextAttemptAt: number;
  lastSuccessAt: number;
}

/** A row as it stands now: failures older than the forget period count as none. */
function live(row: FailureRow | undefined, now: number, s: GuessingSettings): LiveCounters {
  if (!row) return { failures: 0, nextAttemptAt: 0, lastSuccessAt: 0 };
  // PostgreSQL returns bigint columns as strings.
  const lastFailure = Number(row.last_failure_at);
  const forgotten = lastFailure < now - s.forgetAfterMinutes * 60_000;
  return {
    failures: forgotten ? 0 : Number(row.failures),
    nextAttemptAt: Number(row.next_attempt_at),
    lastSuccessAt: Number(row.last_success_at),
  };
}

function throttled(waitMs: number): GuardOutcome {
  return { outcome: "throttled", retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}

/**
 * The client address that failures are counted against. IPv4-mapped IPv6 is its IPv4; other
 * IPv6 addresses count by their /64, since one customer usually holds a whole /64 and could
 * otherwise make each guess from a fresh address.
 */
export function addressKey(ip: string | undefined): string {
  if (!ip) return "local";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  // Not an address (an X-Forwarded-For entry under trustProxy can be any text): a hash, so
  // that what a client sends never grows the counters table by more than a fixed size.
  if (!isIP(ip)) return `?${fixedSizeKey(ip)}`;
  if (!isIPv6(ip)) return ip;
  const groups = expandIPv6(ip);
  return `${groups.slice(0, 4).join(":")}::/64`;
}

/**
 * The key that an account's counters are stored under: a SHA-256 of the lower-cased email,
 * 43 characters whatever was typed, so that a login with an unknown (or huge) email costs the
 * database a fixed few hundred bytes, and the table lists no emails.
 * @example accountKey("ada@example.com") // "m3pV…" (43 characters)
 */
export function accountKey(email: string): string {
  return fixedSizeKey(email.trim().toLowerCase());
}

function fixedSizeKey(text: string): string {
  return createHash("sha256").update(text).digest("base64url");
}

function expandIPv6(ip: string): string[] {
  const [head = "", tail = ""] = ip.split("%")[0]!.split("::");
  const left = head ? head.split(":") : [];
  const right = ip.includes("::") && tail ? tail.split(":") : [];
  const middle = ip.includes("::") ? Array(8 - left.length - right.length).fill("0") : [];
  return [...left, ...middle, ...right].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""));
}
