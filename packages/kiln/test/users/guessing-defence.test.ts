import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { addressKey, GuessingDefence } from "../../src/users/guessing-defence.ts";
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
      await defence.ensureTable();
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
        .selectFrom("kiln_login_failures" as never)
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
});
