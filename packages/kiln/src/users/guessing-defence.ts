import { hash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { type Kysely, sql } from "kysely";
import { adoptTable, type SystemMigration } from "../tables/system-migrations.ts";
import type { GuessingSettings } from "./users-config.ts";

/** Kiln's own table of login failures, shared by every process of the app. */
export const FAILURES_TABLE = "_kiln_login_failures";
/**
 * The `address` of the row that counts an account's failures from everywhere; past the
 * ceiling its `next_attempt_at` is the end of the account's queue.
 */
const EVERYWHERE = "*";
/** Rows of a device (`device:<id>`) and of a network's place in the queue (`net:<prefix>`). */
const DEVICE = "device:";
const NETWORK = "net:";
/** How long after its time a network's turn may still be taken, before it goes to the back. */
const TURN_GRACE_MS = 60_000;

interface FailureRow {
  account: string;
  address: string;
  failures: number;
  last_failure_at: number;
  next_attempt_at: number;
  last_success_at: number;
}
type FailuresTables = { [FAILURES_TABLE]: FailureRow };
type FailuresDb = Kysely<FailuresTables>;

/**
 * The failures table (Kiln 0.1 named it `kiln_login_failures`: such a table is renamed, its
 * counters kept). Part of the Users service's migrations (users-service.ts).
 */
export const failuresMigration: SystemMigration = {
  name: "users/1-login-failures",
  up: async (dialect) => {
    await adoptTable(dialect, "kiln_login_failures", FAILURES_TABLE);
    await dialect.db.schema
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
  },
};

/** What one guarded login attempt came to. */
export type GuardOutcome =
  | { outcome: "ok" | "failed"; accountFailures: number }
  | { outcome: "throttled"; retryAfterSeconds: number };

/**
 * Slows, then blocks, password guessing (settings and numbers: users-config.ts), in a way
 * that cannot be turned against an account's owner:
 *
 * - counters are per (account, client address), so failures from elsewhere never block the
 *   owner's address;
 * - a browser that logged in to the account before carries a device cookie
 *   (device-cookie.ts; OWASP's "device cookies"): its attempts are counted per device instead
 *   of per address, and the account-wide ceiling does not apply to it;
 * - past the ceiling, addresses that never logged in to the account (and browsers without a
 *   device cookie) wait in a fair queue: one attempt per `accountSlowSeconds` for the whole
 *   account, handed out in turn to *networks* (IPv4 /24, IPv6 /32), each holding at most one
 *   place in line. Many addresses in one network get one turn between them; an attacker with
 *   N networks makes a newcomer wait at most about (N + 1) turns, never forever.
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
    this.#db = db.withTables<FailuresTables>();
    this.#settings = settings;
    this.#now = now;
  }

  /**
   * Runs `verify` (the password check) unless this (account, address) must wait, and counts
   * the outcome. `accountFailures` is the account's failure count from all addresses (0 when
   * quiet): the users service mirrors it into the user row's `nPasswordFailures`.
   */
  guard(
    account: string,
    address: string,
    verify: () => Promise<boolean>,
    device: string | null = null,
  ): Promise<GuardOutcome> {
    const key = `${device === null ? address : DEVICE + device} ${account}`;
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.#attempt(account, address, device, verify));
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
   * no promise to make and catch then). `email`: the account as `accountOf` gives it; its
   * key (a SHA-256, see `accountKey`) is only computed when there is something to write.
   */
  noteSuccess(email: string, address: string): Promise<void> | undefined {
    const key = `${address} ${email}`;
    const now = this.#now();
    const last = this.#noted.get(key);
    if (last !== undefined && now - last < 3_600_000) return undefined;
    if (this.#noted.size >= 10_000) this.#noted.clear();
    this.#noted.set(key, now);
    return this.#recordSuccess(accountKey(email), address, now);
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

  /**
   * One attempt. `device` is the id of a device cookie that vouches for this account (the
   * browser logged in to it before), or null: then the attempt counts against the address.
   */
  async #attempt(
    account: string,
    address: string,
    device: string | null,
    verify: () => Promise<boolean>,
  ): Promise<GuardOutcome> {
    const now = this.#now();
    const s = this.#settings;
    const counted = device === null ? address : DEVICE + device;
    const network = NETWORK + networkOf(address);
    const rows = await this.#db
      .selectFrom(FAILURES_TABLE)
      .selectAll()
      .where("account", "=", account)
      .where("address", "in", [counted, address, EVERYWHERE, network])
      .execute();
    const row = (name: string) => rows.find((r) => r.address === name);
    const here = live(row(counted), now, s);
    const everywhere = live(row(EVERYWHERE), now, s);

    if (here.failures > 0 && now < here.nextAttemptAt) {
      return throttled(here.nextAttemptAt - now);
    }
    const knownAddress =
      live(row(address), now, s).lastSuccessAt > now - s.knownAddressDays * 86_400_000;
    const exempt = device !== null || knownAddress;
    if (!exempt && everywhere.failures >= s.accountCeiling && s.accountCeiling > 0) {
      const wait = await this.#takeTurn(account, network, row(network), now);
      if (wait > 0) return throttled(wait);
    }

    if (await verify()) {
      await this.#recordSuccess(account, counted, now);
      if (counted !== address) await this.#recordSuccess(account, address, now);
      return { outcome: "ok", accountFailures: everywhere.failures };
    }
    const hereCount = await this.#countFailure(account, counted, now);
    const delay = this.#delayAfter(hereCount);
    if (delay > 0) {
      await this.#db
        .updateTable(FAILURES_TABLE)
        .set({ next_attempt_at: now + delay })
        .where("account", "=", account)
        .where("address", "=", counted)
        .execute();
    }
    const accountCount = await this.#countFailure(account, EVERYWHERE, now);
    return { outcome: "failed", accountFailures: accountCount };
  }

  /**
   * The account's fair queue, past the ceiling: returns 0 when this network's turn is now
   * (and uses it up), else how long to wait (ms). A network holds at most one place: its
   * row's `next_attempt_at` is the time of its turn (0: not in line). A turn not taken within
   * TURN_GRACE_MS is lost, and the network may queue again, at the back. Every step is one
   * conditional write, so simultaneous attempts from any process cannot take a turn twice or
   * give one network two places.
   */
  async #takeTurn(
    account: string,
    network: string,
    place: FailureRow | undefined,
    now: number,
  ): Promise<number> {
    const slow = this.#settings.accountSlowSeconds * 1000;
    const turn = place ? Number(place.next_attempt_at) : 0;
    if (turn > 0 && now < turn + TURN_GRACE_MS) {
      if (now < turn) return turn - now;
      const used = await this.#db
        .updateTable(FAILURES_TABLE)
        .set({ next_attempt_at: 0 })
        .where("account", "=", account)
        .where("address", "=", network)
        .where("next_attempt_at", "=", turn)
        .executeTakeFirst();
      // Another address of the network took this turn a moment ago.
      return Number(used.numUpdatedRows) === 1 ? 0 : slow;
    }
    // Not in line: claim the network's one place (a placeholder turn, until the real one is known).
    const column = (name: keyof FailureRow) => sql.ref(`${FAILURES_TABLE}.${name}`);
    const pending = now + slow;
    const claimed = await this.#db
      .insertInto(FAILURES_TABLE)
      .values({
        account,
        address: network,
        failures: 0,
        last_failure_at: now,
        next_attempt_at: pending,
        last_success_at: 0,
      })
      .onConflict((oc) =>
        oc
          .columns(["account", "address"])
          .doUpdateSet({ next_attempt_at: pending, last_failure_at: now })
          .where(sql<boolean>`${column("next_attempt_at")} + ${TURN_GRACE_MS} <= ${now}`),
      )
      .returning("address")
      .executeTakeFirst();
    if (!claimed) return slow;
    // Then the next free turn of the account: the end of its queue moves on by one turn.
    const end = await this.#db
      .updateTable(FAILURES_TABLE)
      .set({
        next_attempt_at: sql<number>`CASE WHEN ${column("next_attempt_at")} > ${now} THEN ${column("next_attempt_at")} + ${slow} ELSE ${now + slow} END`,
      })
      .where("account", "=", account)
      .where("address", "=", EVERYWHERE)
      .returning("next_attempt_at")
      .executeTakeFirst();
    const at = end ? Number(end.next_attempt_at) - slow : now;
    const mine = at <= now ? 0 : at;
    await this.#db
      .updateTable(FAILURES_TABLE)
      .set({ next_attempt_at: mine })
      .where("account", "=", account)
      .where("address", "=", network)
      .execute();
    return mine === 0 ? 0 : mine - now;
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

/** The account an email names for the guessing defence and device cookies: trimmed, lower case. */
export function accountOf(email: string): string {
  return email.trim().toLowerCase();
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
  if (isIPv4(ip)) return ip; // first: IPv6's test is a long regular expression
  if (!isIPv6(ip)) return `?${fixedSizeKey(ip)}`;
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
  // One-shot: a Hash object per call costs several times more, on every Basic request.
  return hash("sha256", text, "base64url");
}

/**
 * The network an address key (see `addressKey`) belongs to, for the fair queue: an IPv4
 * address's /24, an IPv6 /64's /32. One customer, one cloud tenant or one provider's pool
 * usually holds addresses of one such network, so they share one place in line. IPv6 goes by
 * /32, not /48, because a hosting customer can easily hold a /32: 65,536 /48s, as many places.
 */
export function networkOf(address: string): string {
  const v4 = /^(\d+\.\d+\.\d+)\.\d+$/.exec(address);
  if (v4) return `${v4[1]}.0/24`;
  const v6 = /^([0-9a-f]+:[0-9a-f]+):[0-9a-f]+:[0-9a-f]+::\/64$/.exec(address);
  if (v6) return `${v6[1]}::/32`;
  return address;
}

function expandIPv6(ip: string): string[] {
  const [head = "", tail = ""] = ip.split("%")[0]!.split("::");
  const left = head ? head.split(":") : [];
  const right = ip.includes("::") && tail ? tail.split(":") : [];
  const middle = ip.includes("::") ? Array(8 - left.length - right.length).fill("0") : [];
  return [...left, ...middle, ...right].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""));
}
