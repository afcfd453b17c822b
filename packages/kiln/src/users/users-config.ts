import { ConfigError } from "../errors.ts";
import type { KeyTree } from "../runtime/config-keys.ts";
import { checkScryptParams, DEFAULT_SCRYPT, type ScryptParams } from "./passwords.ts";

/**
 * How password guessing is slowed and blocked (kiln.yaml `services.users.guessing`).
 * Failures are counted per (account, client address): after `freeFailures` the next attempt
 * must wait `firstDelaySeconds`, doubling per failure up to `maxDelaySeconds`; at
 * `blockAfter` failures that address is blocked for `blockMinutes` (and again after each
 * further failure). Across all addresses, once an account collects `accountCeiling` failures,
 * addresses that have not logged in to it within `knownAddressDays` (and browsers without a
 * device cookie for it) get one attempt per `accountSlowSeconds` between them, handed out in
 * turn to their networks (guessing-defence.ts): distributed guessing crawls while the owner,
 * from an address or a browser they used before, is not slowed at all. Counters are
 * forgotten `forgetAfterMinutes` after the last failure.
 */
export interface GuessingSettings {
  freeFailures: number;
  firstDelaySeconds: number;
  maxDelaySeconds: number;
  blockAfter: number;
  blockMinutes: number;
  forgetAfterMinutes: number;
  accountCeiling: number;
  accountSlowSeconds: number;
  knownAddressDays: number;
}

export const DEFAULT_GUESSING: GuessingSettings = {
  freeFailures: 5,
  firstDelaySeconds: 1,
  maxDelaySeconds: 60,
  blockAfter: 20,
  blockMinutes: 15,
  forgetAfterMinutes: 60,
  accountCeiling: 100,
  accountSlowSeconds: 10,
  knownAddressDays: 30,
};

/** Every key of kiln.yaml `services.users`, for the check that refuses unknown ones. */
export const usersConfigKeys: KeyTree = {
  scrypt: { N: true, r: true, p: true },
  minPasswordLength: true,
  guessing: Object.fromEntries(Object.keys(DEFAULT_GUESSING).map((key) => [key, true])),
  credentialMemory: { maxEntries: true, ttlSeconds: true },
};

/** kiln.yaml `services.users`, every part optional. */
export interface UsersSettings {
  scrypt: ScryptParams;
  /** Shortest password `signupWithEmail` and the CLI accept. Default 8. */
  minPasswordLength: number;
  guessing: GuessingSettings;
  /** Verified Basic credentials remembered (see credential-memory.ts). */
  credentialMemory: { maxEntries: number; ttlSeconds: number };
}

export function readUsersSettings(services: Record<string, unknown> | undefined): UsersSettings {
  const raw = services?.users ?? {};
  if (!isMapping(raw)) bad([], "services.users must be a mapping");
  const scrypt = { ...DEFAULT_SCRYPT, ...numbers(raw.scrypt, "scrypt", ["N", "r", "p"]) };
  try {
    checkScryptParams(scrypt);
  } catch (error) {
    bad(["scrypt"], `services.users.scrypt: ${(error as Error).message}`);
  }
  const guessing = {
    ...DEFAULT_GUESSING,
    ...numbers(raw.guessing, "guessing", Object.keys(DEFAULT_GUESSING)),
  };
  if (guessing.forgetAfterMinutes * 60 < guessing.maxDelaySeconds) {
    bad(
      ["guessing", "forgetAfterMinutes"],
      "services.users.guessing.forgetAfterMinutes must cover maxDelaySeconds",
    );
  }
  if (guessing.forgetAfterMinutes < guessing.blockMinutes) {
    bad(
      ["guessing", "forgetAfterMinutes"],
      "services.users.guessing.forgetAfterMinutes must be at least blockMinutes",
    );
  }
  const credentialMemory = {
    maxEntries: 10_000,
    ttlSeconds: 300,
    ...numbers(raw.credentialMemory, "credentialMemory", ["maxEntries", "ttlSeconds"]),
  };
  const minPasswordLength = raw.minPasswordLength ?? 8;
  if (
    typeof minPasswordLength !== "number" ||
    !Number.isInteger(minPasswordLength) ||
    minPasswordLength < 1
  ) {
    bad(["minPasswordLength"], "services.users.minPasswordLength must be a whole number >= 1");
  }
  return { scrypt, minPasswordLength, guessing, credentialMemory };
}

function numbers(value: unknown, section: string, keys: string[]): Record<string, number> {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) bad([section], `services.users.${section} must be a mapping`);
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(value)) {
    if (!keys.includes(key)) {
      bad(
        [section, key],
        `services.users.${section}.${key} is not a setting (known: ${keys.join(", ")})`,
      );
    }
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
      bad(
        [section, key],
        `services.users.${section}.${key} must be a number >= 0, got ${JSON.stringify(n)}`,
      );
    }
    out[key] = n;
  }
  return out;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `path` is under `services.users`, so that the loader can name the line. */
function bad(path: string[], message: string): never {
  throw new ConfigError(["services", "users", ...path], message);
}
