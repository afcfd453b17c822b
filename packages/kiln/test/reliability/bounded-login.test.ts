import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { users } from "../../src/index.ts";
import { basicAuth } from "./kiln-process.ts";
import { type ListeningApp, listeningApp } from "./raw-http.ts";

/**
 * What an unauthenticated login costs the database, measured on the real SQLite file of a
 * listening app: a hostile client sends huge emails and passwords, or many distinct ones, and
 * the database may grow by a few hundred bytes per request at most.
 */

let app: ListeningApp | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

async function loginApp(trustProxy = false): Promise<ListeningApp> {
  const started = await listeningApp(
    (app) => {
      app.httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) => {
        const user = await users.loginWithEmail(email ?? "", password ?? "");
        return { email: user.email };
      });
      app.httpEndpoint("/me", { authenticateUsers: true }, () => ({
        email: users.getUser()?.email,
      }));
    },
    { services: { users: { scrypt: { N: 1024, r: 8, p: 1 } } }, trustProxy },
  );
  await started.users.signupWithEmail("owner@example.com", "the owner's password");
  return started;
}

function login(app: ListeningApp, email: string, password: string) {
  return fetch(`${app.url}/_/api/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ email, password }).toString(),
  });
}

function me(app: ListeningApp, email: string, password: string) {
  return fetch(`${app.url}/_/api/me`, { headers: { authorization: basicAuth(email, password) } });
}

/** The database's size on disk once the WAL is folded in: what the requests really stored. */
function databaseBytes(app: ListeningApp): number {
  const file = join(app.dataDir!, "app.db");
  const db = new Database(file);
  try {
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
  return statSync(file).size;
}

describe("an unauthenticated login's cost in storage", () => {
  it("refuses an email over 254 characters or a password over 1024 with a 400, storing nothing", async () => {
    app = await loginApp();
    const before = databaseBytes(app);
    const hugeEmail = `${"a".repeat(300_000)}@example.com`;
    for (let i = 0; i < 3; i++) {
      const res = await login(app, `${i}${hugeEmail}`, "wrong password");
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/at most 254 characters/);
    }
    const longPassword = await login(app, "owner@example.com", "p".repeat(1025));
    expect(longPassword.status).toBe(400);
    expect(((await longPassword.json()) as { error: string }).error).toMatch(
      /at most 1024 characters/,
    );

    // Basic credentials: the header is bounded by Node (16 KiB), the email by Kiln.
    const basicEmail = await me(app, `${"b".repeat(5_000)}@example.com`, "wrong password");
    expect(basicEmail.status).toBe(400);
    const basicPassword = await me(app, "owner@example.com", "p".repeat(2_000));
    expect(basicPassword.status).toBe(400);

    // No counting happened: the owner's own login still works, and the file did not grow.
    expect((await me(app, "owner@example.com", "the owner's password")).status).toBe(200);
    expect(databaseBytes(app) - before).toBeLessThan(16 * 1024);
  });

  it("keys the failure counters by a fixed-size hash: the longest allowed email adds a few hundred bytes", async () => {
    app = await loginApp();
    const requests = 40;
    for (let i = 0; i < requests; i++) {
      const email = `${String(i).padStart(3, "0")}${"x".repeat(239)}@example.com`;
      expect(email.length).toBe(254);
      const res = await (i % 2 === 0
        ? login(app, email, "p".repeat(1024))
        : me(app, email, "p".repeat(1024)));
      expect(res.status).toBe(401);
    }
    const db = new Database(join(app.dataDir!, "app.db"), { readonly: true });
    try {
      const rows = db
        .prepare("select length(account) + length(address) as key_bytes from _kiln_login_failures")
        .all() as { key_bytes: number }[];
      // Each failure writes the (account, address) row and the account's "everywhere" row.
      expect(rows.length).toBe(2 * requests);
      for (const row of rows) expect(row.key_bytes).toBeLessThanOrEqual(64);
      const stored = db
        .prepare("select group_concat(account, ' ') as accounts from _kiln_login_failures")
        .get() as { accounts: string };
      expect(stored.accounts).not.toContain("example.com");
    } finally {
      db.close();
    }
  });

  it("keys a client address that is no address (X-Forwarded-For under trustProxy) by a hash", async () => {
    app = await loginApp(true);
    const res = await fetch(`${app.url}/_/api/me`, {
      headers: {
        authorization: basicAuth("owner@example.com", "wrong password"),
        "x-forwarded-for": "y".repeat(8_000),
      },
    });
    expect(res.status).toBe(401);
    const db = new Database(join(app.dataDir!, "app.db"), { readonly: true });
    try {
      const rows = db.prepare("select address from _kiln_login_failures").all() as {
        address: string;
      }[];
      expect(rows.length).toBe(2);
      for (const row of rows) expect(row.address.length).toBeLessThanOrEqual(64);
    } finally {
      db.close();
    }
  });
});
