import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  AuthenticationFailed,
  CrossSiteRefused,
  errorCatalogue,
  InvalidCredentials,
  isKilnError,
  KilnError,
  type KilnErrorCode,
  TableError,
  TooManyAttempts,
  UserExists,
} from "../../src/index.ts";
import { testApp } from "./test-app.ts";

/**
 * Kiln's errors are one family: the users errors and TableError are KilnErrors, and an error
 * escaping a handler answers the status its code has in `errorCatalogue`, even when another
 * copy of kilnjs made it.
 */

let app: ReturnType<typeof testApp> | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

/** The answer when `error` escapes a handler. */
async function answerTo(error: unknown): Promise<{ status: number; body: unknown }> {
  app = testApp();
  app.httpEndpoint("/throw", () => {
    throw error;
  });
  const res = await app.inject({ url: "/_/api/throw" });
  return { status: res.statusCode, body: res.json() };
}

describe("Kiln's errors", () => {
  // Their classes are public API: `instanceof` each, and KilnError, must hold.
  const usersErrors: [string, () => KilnError, KilnErrorCode, Function][] = [
    [
      "AuthenticationFailed",
      () => new AuthenticationFailed(),
      "KILN_AUTHENTICATION_FAILED",
      AuthenticationFailed,
    ],
    [
      "InvalidCredentials",
      () => new InvalidCredentials("Not an email address"),
      "KILN_INVALID_CREDENTIALS",
      InvalidCredentials,
    ],
    ["UserExists", () => new UserExists("ada@example.com"), "KILN_USER_EXISTS", UserExists],
    ["CrossSiteRefused", () => new CrossSiteRefused(), "KILN_CROSS_SITE_REFUSED", CrossSiteRefused],
  ];

  it.each(usersErrors)(
    "%s is a KilnError answering its catalogue status",
    async (_, make, code, type) => {
      const error = make();
      expect(error).toBeInstanceOf(KilnError);
      expect(error).toBeInstanceOf(type);
      expect(isKilnError(error)).toBe(true);
      expect(error.code).toBe(code);
      expect(error.status).toBe(errorCatalogue[code].status);
      expect(await answerTo(error)).toEqual({
        status: errorCatalogue[code].status,
        body: { error: error.message },
      });
    },
  );

  it("TooManyAttempts answers 429 with retryAfter in the body", async () => {
    const error = new TooManyAttempts(30);
    expect(error).toBeInstanceOf(KilnError);
    expect(error.code).toBe("KILN_TOO_MANY_ATTEMPTS");
    expect(error.retryAfterSeconds).toBe(30);
    expect(await answerTo(error)).toEqual({
      status: 429,
      body: { error: "Too many failed login attempts; try again in 30 s", retryAfter: 30 },
    });
  });

  it("a TableError is a KilnError; a code's status comes from the catalogue unless the error overrides it", () => {
    const duplicate = new TableError("KILN_DUPLICATE_VALUE", "notes.slug: taken", {
      table: "notes",
    });
    expect(duplicate).toBeInstanceOf(KilnError);
    expect(duplicate.status).toBe(409);
    expect(new TableError("KILN_BAD_QUERY", "bad operator").status).toBe(500);
    expect(new TableError("KILN_BAD_QUERY", "bad limit", {}, { status: 400 }).status).toBe(400);
  });

  it("a code outside the catalogue is a type error, and from JavaScript a 500", () => {
    // @ts-expect-error: tsc refuses a code that is not in errorCatalogue
    const error = new KilnError("KILN_MISSPELT", "from untyped code");
    expect(error.status).toBe(500);
    expect(isKilnError(new Error("x"))).toBe(false);
    expect(isKilnError({ code: "KILN_BAD_VALUE" })).toBe(false);
  });
});

describe("a KilnError made by another copy of kilnjs (its dist build)", () => {
  const dist = new URL("../../dist/", import.meta.url);
  const load = async <T>(file: string): Promise<T> => {
    const url = new URL(file, dist);
    expect(existsSync(url), `${url} (the global setup builds dist/)`).toBe(true);
    return (await import(pathToFileURL(url.pathname).href)) as T;
  };

  it("is recognised by isKilnError and answers its catalogue status", async () => {
    const other = await load<typeof import("../../src/errors.ts")>("errors.js");
    const otherTables = await load<typeof import("../../src/tables/errors.ts")>("tables/errors.js");
    const otherUsers = await load<typeof import("../../src/users/errors.ts")>("users/errors.js");
    expect(other.KilnError).not.toBe(KilnError); // really a second copy

    const badValue = new otherTables.TableError("KILN_BAD_VALUE", "notes.count: expected a number");
    expect(badValue).not.toBeInstanceOf(KilnError);
    expect(isKilnError(badValue)).toBe(true);
    expect(await answerTo(badValue)).toEqual({
      status: 400,
      body: { error: "notes.count: expected a number" },
    });
    await app?.cleanup();
    const exists = new otherUsers.UserExists("ada@example.com");
    expect(await answerTo(exists)).toEqual({
      status: 409,
      body: { error: "A user with the email address ada@example.com already exists" },
    });
    await app?.cleanup();
    const busy = await answerTo(new other.KilnError("KILN_DATABASE_BUSY", "locked"));
    expect(busy.status).toBe(503);
  });
});
