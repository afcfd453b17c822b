import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { migrateSystemTables } from "../../src/tables/system-migrations.ts";
import {
  addressKey,
  failuresMigration,
  GuessingDefence,
  networkOf,
} from "../../src/users/guessing-defence.ts";
import { DEFAULT_GUESSING, type GuessingSettings } from "../../src/users/users-config.ts";
import { type ScratchDb, scratchDatabases } from "./guessing-databases.ts";

const SETTINGS: GuessingSettings = {
  ...DEFAULT_GUESSING,
  freeFailures: 3,
  firstDelaySeconds: 1,
  maxDelaySeconds: 8,
  blockAfter: 6,
  blockMinutes: 15,
  forgetAfterMinutes: 60,
  accountCeiling: 10,
  accountSlowSeconds: 30,
};

const wrong = async () => false;
const right = async () => true;

for (const { name, open } of await scratchDatabases()) {
  describe(`${name}: guessing defence`, () => {
    let scratch: ScratchDb;
    let now: number;
    let defence: GuessingDefence;
    const clock = () => now;

    beforeEach(async () => {
      scratch = await open();
      now = 1_700_000_000_000;
      defence = new GuessingDefence(scratch.db, SETTINGS, clock);
      await migrateSystemTables(scratch.dialect, [failuresMigration]);
    });
    afterEach(() => scratch.drop());

    async function fail(times: number, account = "a@x.io", address = "10.0.0.1") {
      const outcomes = [];
      for (let i = 0; i < times; i++) outcomes.push(await defence.guard(account, address, wrong));
      return outcomes;
    }

    it("lets the first failures through, then makes each next attempt wait longer", async () => {
      const first = await fail(3);
      expect(first.map((o) => o.outcome)).toEqual(["failed", "failed", "failed"]);
      // Third failure: the next attempt must wait 1 s, even with the right password.
      expect(await defence.guard("a@x.io", "10.0.0.1", right)).toEqual({
        outcome: "throttled",
        retryAfterSeconds: 1,
      });
      now += 1000;
      expect((await defence.guard("a@x.io", "10.0.0.1", wrong)).outcome).toBe("failed");
      expect(await defence.guard("a@x.io", "10.0.0.1", wrong)).toEqual({
        outcome: "throttled",
        retryAfterSeconds: 2,
      });
    });

    it("blocks an address for blockMinutes after blockAfter failures", async () => {
      for (let i = 0; i < SETTINGS.blockAfter; i++) {
        expect((await defence.guard("a@x.io", "10.0.0.1", wrong)).outcome).toBe("failed");
        now += SETTINGS.maxDelaySeconds * 1000;
      }
      const blocked = await defence.guard("a@x.io", "10.0.0.1", right);
      expect(blocked).toMatchObject({ outcome: "throttled" });
      expect(blocked.outcome === "throttled" && blocked.retryAfterSeconds).toBeGreaterThan(14 * 60);
      now += 15 * 60_000;
      expect((await defence.guard("a@x.io", "10.0.0.1", right)).outcome).toBe("ok");
    });

    it("never blocks the owner's address because of failures from another address", async () => {
      await fail(SETTINGS.blockAfter, "a@x.io", "203.0.113.9");
      expect((await defence.guard("a@x.io", "203.0.113.9", right)).outcome).toBe("throttled");
      expect((await defence.guard("a@x.io", "10.0.0.1", right)).outcome).toBe("ok");
    });

    it("forgets the failures of an address once the owner logs in from it", async () => {
      await fail(3);
      now += 1000;
      expect((await defence.guard("a@x.io", "10.0.0.1", right)).outcome).toBe("ok");
      expect((await fail(3)).map((o) => o.outcome)).toEqual(["failed", "failed", "failed"]);
    });

    it("forgets failures after forgetAfterMinutes of quiet", async () => {
      await fail(3);
      now += 61 * 60_000;
      expect((await fail(3)).map((o) => o.outcome)).toEqual(["failed", "failed", "failed"]);
    });

    it("slows distributed guessing past the account ceiling, but not the owner's known address", async () => {
      expect((await defence.guard("a@x.io", "10.0.0.1", right)).outcome).toBe("ok");
      for (let i = 0; i < SETTINGS.accountCeiling; i++) {
        await defence.guard("a@x.io", `198.51.100.${i}`, wrong);
      }
      // A fresh address gets one attempt per accountSlowSeconds, shared by all fresh addresses.
      expect((await defence.guard("a@x.io", "192.0.2.1", wrong)).outcome).toBe("failed");
      const slowed = await defence.guard("a@x.io", "192.0.2.2", right);
      expect(slowed).toEqual({ outcome: "throttled", retryAfterSeconds: 30 });
      // The owner, from where they logged in before, is not slowed at all.
      expect(await defence.guard("a@x.io", "10.0.0.1", right)).toEqual({
        outcome: "ok",
        accountFailures: SETTINGS.accountCeiling + 1,
      });
      now += 30_000;
      expect((await defence.guard("a@x.io", "192.0.2.2", right)).outcome).toBe("ok");
      // Other accounts are unaffected.
      expect((await defence.guard("b@x.io", "192.0.2.3", wrong)).outcome).toBe("failed");
    });

    /** Fills the account's ceiling with failures from addresses of many networks. */
    async function reachCeiling(account = "a@x.io") {
      for (let i = 0; i < SETTINGS.accountCeiling; i++) {
        await defence.guard(account, `100.64.${i}.1`, wrong);
      }
    }

    it("past the ceiling, many addresses of one network hold one place in line, not every turn", async () => {
      await reachCeiling();
      const attacker = (i: number) => `198.51.100.${i}`;
      // The attacker's network takes the free turn, then queues once, however many addresses ask.
      expect((await defence.guard("a@x.io", attacker(1), wrong)).outcome).toBe("failed");
      for (let i = 2; i < 40; i++) {
        expect(await defence.guard("a@x.io", attacker(i), wrong)).toEqual({
          outcome: "throttled",
          retryAfterSeconds: 30,
        });
      }
      // The owner, on a new phone in another network, gets the place after it.
      expect(await defence.guard("a@x.io", "192.0.2.9", right)).toEqual({
        outcome: "throttled",
        retryAfterSeconds: 60,
      });
      now += 30_000;
      // The attacker's turn: one address uses it, and the network queues again, behind the owner.
      expect((await defence.guard("a@x.io", attacker(50), wrong)).outcome).toBe("failed");
      for (let i = 51; i < 60; i++) {
        expect(await defence.guard("a@x.io", attacker(i), wrong)).toEqual({
          outcome: "throttled",
          retryAfterSeconds: 60,
        });
      }
      // Asking first at the owner's turn does not take it from him...
      now += 30_000;
      expect(await defence.guard("a@x.io", attacker(70), wrong)).toEqual({
        outcome: "throttled",
        retryAfterSeconds: 30,
      });
      // ...even a few seconds later.
      now += 5_000;
      expect((await defence.guard("a@x.io", "192.0.2.9", right)).outcome).toBe("ok");
    });

    it("gives each network of a many-network attacker one place: a newcomer waits its turn", async () => {
      await reachCeiling();
      const networks = ["198.51.100.1", "198.51.101.1", "198.51.102.1"];
      for (const address of networks) await defence.guard("a@x.io", address, wrong);
      // The first network took the free turn; the two others queued (30 s, 60 s); the owner is next.
      const owner = await defence.guard("a@x.io", "192.0.2.9", right);
      expect(owner).toEqual({ outcome: "throttled", retryAfterSeconds: 90 });
      for (let t = 0; t < 3; t++) {
        now += 30_000;
        // The attackers' networks come back all the time; each only ever gets its own turns.
        for (const address of networks) await defence.guard("a@x.io", address, wrong);
      }
      expect((await defence.guard("a@x.io", "192.0.2.9", right)).outcome).toBe("ok");
    });

    it("gives a whole IPv6 /32 (a hosting customer's allocation) one place in line", async () => {
      await reachCeiling();
      // Addresses in 40 different /48s of one /32: one place between them, as one IPv4 /24.
      const attacker = (i: number) => addressKey(`2001:db8:${i.toString(16)}:1::1`);
      expect((await defence.guard("a@x.io", attacker(0), wrong)).outcome).toBe("failed");
      for (let i = 1; i < 40; i++) {
        expect(await defence.guard("a@x.io", attacker(i), wrong)).toEqual({
          outcome: "throttled",
          retryAfterSeconds: 30,
        });
      }
      const owner = await defence.guard("a@x.io", addressKey("2a00:1450:4001:81c::5"), right);
      expect(owner).toEqual({ outcome: "throttled", retryAfterSeconds: 60 });
    });

    it("a turn not taken within a minute goes to the back of the line", async () => {
      await reachCeiling();
      await defence.guard("a@x.io", "198.51.100.1", wrong); // the free turn
      expect(await defence.guard("a@x.io", "192.0.2.9", wrong)).toMatchObject({
        retryAfterSeconds: 30,
      });
      now += 30_000 + 61_000;
      // Missed: queues again (its old place is gone, the queue is empty by now).
      expect((await defence.guard("a@x.io", "192.0.2.9", right)).outcome).toBe("ok");
    });

    it("a browser with a device cookie for the account skips the ceiling and the address's counters", async () => {
      await reachCeiling();
      // The attacker shares the owner's new address (a café's network) and fails there a lot.
      for (let i = 0; i < SETTINGS.blockAfter; i++) {
        await defence.guard("a@x.io", "192.0.2.9", wrong);
        now += SETTINGS.maxDelaySeconds * 1000;
      }
      expect((await defence.guard("a@x.io", "192.0.2.9", right)).outcome).toBe("throttled");
      // The owner's browser, there too, carries its device cookie: let in at once.
      expect((await defence.guard("a@x.io", "192.0.2.9", right, "device-1")).outcome).toBe("ok");
    });

    it("limits each device on its own: a device that keeps failing is slowed, then blocked", async () => {
      const device = "device-2";
      const outcomes = [];
      for (let i = 0; i < SETTINGS.freeFailures + 1; i++) {
        outcomes.push((await defence.guard("a@x.io", "10.0.0.1", wrong, device)).outcome);
      }
      expect(outcomes).toEqual(["failed", "failed", "failed", "throttled"]);
      // Its failures are its own: the address, without the cookie, is not slowed by them...
      expect((await defence.guard("a@x.io", "10.0.0.1", right)).outcome).toBe("ok");
      // ...and another device is not either.
      expect((await defence.guard("a@x.io", "10.0.0.1", right, "device-3")).outcome).toBe("ok");
      for (let i = 0; i < SETTINGS.blockAfter; i++) {
        now += SETTINGS.maxDelaySeconds * 1000;
        await defence.guard("a@x.io", "10.0.0.1", wrong, device);
      }
      const blocked = await defence.guard("a@x.io", "10.0.0.1", right, device);
      expect(blocked.outcome === "throttled" && blocked.retryAfterSeconds).toBeGreaterThan(14 * 60);
    });

    it("reports the account's failure count from every address", async () => {
      await fail(2, "a@x.io", "10.0.0.1");
      const last = await defence.guard("a@x.io", "10.0.0.2", wrong);
      expect(last).toEqual({ outcome: "failed", accountFailures: 3 });
      expect(await defence.guard("a@x.io", "10.0.0.3", right)).toEqual({
        outcome: "ok",
        accountFailures: 3,
      });
    });

    it("does not let a burst of parallel guesses through before the first failures count", async () => {
      let checked = 0;
      const counting = async () => {
        checked++;
        return false;
      };
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, () => defence.guard("a@x.io", "10.0.0.1", counting)),
      );
      expect(checked).toBe(SETTINGS.freeFailures);
      expect(outcomes.filter((o) => o.outcome === "throttled")).toHaveLength(17);
    });

    it("shares its counters between processes through the database", async () => {
      await fail(3);
      const otherProcess = new GuessingDefence(scratch.another(), SETTINGS, clock);
      expect((await otherProcess.guard("a@x.io", "10.0.0.1", right)).outcome).toBe("throttled");
    });

    it("deletes counters nobody needs any more", async () => {
      await fail(2);
      await fail(1, "b@x.io");
      now += 61 * 60_000;
      await fail(1, "c@x.io");
      await defence.forgetOld();
      const rows = await scratch.db
        .selectFrom("_kiln_login_failures" as never)
        .select("account" as never)
        .execute();
      expect(new Set(rows.map((r) => (r as { account: string }).account))).toEqual(
        new Set(["c@x.io"]),
      );
    });
  });
}

describe("client address keys", () => {
  it("counts IPv4-mapped addresses as IPv4 and IPv6 by /64", () => {
    expect(addressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:0db8:0001:0002::9")).toBe("2001:db8:1:2::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey(undefined)).toBe("local");
  });

  it("groups addresses into networks for the fair queue: IPv4 by /24, IPv6 by /32", () => {
    expect(networkOf("192.0.2.7")).toBe("192.0.2.0/24");
    expect(networkOf(addressKey("2001:db8:1:2:aaaa::1"))).toBe("2001:db8::/32");
    expect(networkOf(addressKey("2001:db8:ffff:ffff::1"))).toBe("2001:db8::/32");
    expect(networkOf(addressKey("2001:db9:1:2::1"))).toBe("2001:db9::/32");
    expect(networkOf("local")).toBe("local");
  });
});
