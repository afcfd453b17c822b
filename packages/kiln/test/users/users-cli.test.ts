import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import { users as usersApi } from "../../src/index.ts";
import { basic, FAST_SCRYPT, usersApp } from "./users-test-app.ts";

const kilnBin = new URL("../../bin/kiln.js", import.meta.url).pathname;
let dir: string;
let appDir: string;
let data: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-users-cli-"));
  appDir = join(dir, "app");
  data = join(dir, "data");
  mkdirSync(appDir);
  writeFileSync(
    join(appDir, "kiln.yaml"),
    `name: clitest\nservices:\n  users:\n    scrypt: { N: ${FAST_SCRYPT.N}, r: 8, p: 1 }\n`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `kiln users ...` in this process; resolves to its exit code and what it printed. */
async function users(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((line) => out.push(String(line)));
  const error = vi.spyOn(console, "error").mockImplementation((line) => err.push(String(line)));
  try {
    const code = await main(["users", ...args, "--app", appDir, "--data", data]);
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** Whether Basic credentials open an authenticateUsers endpoint of the same app and data. */
async function canLogIn(email: string, password: string): Promise<boolean> {
  const app = usersApp({ name: "clitest" }, data);
  app.httpEndpoint("/me", { authenticateUsers: true }, () => "ok");
  try {
    const res = await app.inject({ url: "/_/api/me", headers: basic(email, password) });
    return res.statusCode === 200;
  } finally {
    await app.close();
  }
}

/** A new API token of the user, made with `kiln tokens add`. */
async function tokenFor(email: string): Promise<string> {
  const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
  const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
  try {
    expect(await main(["tokens", "add", email, "--app", appDir, "--data", data])).toBe(0);
    return String(log.mock.calls[0]?.[0]);
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe("kiln users", () => {
  it("add creates an account that can log in", async () => {
    const res = await users("add", "ada@example.com", "--password", "correct horse");
    expect(res).toMatchObject({ code: 0, stderr: "" });
    expect(res.stdout).toMatch(/^Added ada@example\.com \(\[\d+,\d+\]\)$/);
    expect(await canLogIn("ada@example.com", "correct horse")).toBe(true);
  });

  it("add reads the password from standard input when it is not a terminal", () => {
    const run = spawnSync(
      process.execPath,
      [kilnBin, "users", "add", "bob@example.com", "--app", appDir, "--data", data],
      { input: "bob's password\nignored second line\n", encoding: "utf8" },
    );
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^Added bob@example\.com/);
  });

  it("list shows every account with its state", async () => {
    const res = await users("list");
    expect(res.code).toBe(0);
    const lines = res.stdout.split("\n");
    expect(lines[0]).toMatch(/^EMAIL\s+ENABLED\s+SIGNED UP\s+LAST LOGIN$/);
    expect(lines[1]).toMatch(/^ada@example\.com\s+yes\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+\d{4}-/);
    expect(lines[2]).toMatch(/^bob@example\.com\s+yes\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+-$/);
    expect(res.stdout).not.toContain("scrypt");
  });

  it("disable refuses the account's logins at once, enable allows them again", async () => {
    expect((await users("disable", "ADA@example.com")).code).toBe(0);
    expect(await canLogIn("ada@example.com", "correct horse")).toBe(false);
    expect((await users("list")).stdout).toMatch(/ada@example\.com\s+no/);
    expect((await users("enable", "ada@example.com")).code).toBe(0);
    expect(await canLogIn("ada@example.com", "correct horse")).toBe(true);
  });

  it("set-password replaces the password", async () => {
    const res = await users("set-password", "ada@example.com", "--password", "a whole new one");
    expect(res).toMatchObject({ code: 0, stdout: "New password set for ada@example.com" });
    expect(await canLogIn("ada@example.com", "correct horse")).toBe(false);
    expect(await canLogIn("ada@example.com", "a whole new one")).toBe(true);
  });

  it("remove deletes the account with its API tokens and sessions, and says so", async () => {
    expect((await users("add", "cy@example.com", "--password", "cy's password")).code).toBe(0);
    const token = await tokenFor("cy@example.com");
    const app = usersApp({ name: "clitest" }, data);
    app.httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) => {
      await usersApi.loginWithEmail(email ?? "", password ?? "");
      return "ok";
    });
    app.httpEndpoint("/me", { authenticateUsers: true }, () => usersApi.getUser()?.email);
    try {
      const url = await app.listen({ port: 0 });
      const login = await fetch(`${url}/_/api/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "email=cy%40example.com&password=cy%27s+password",
      });
      expect(login.status).toBe(200);
      const cookie = login.headers
        .getSetCookie()
        .map((line) => line.split(";")[0])
        .join("; ");
      const me = (headers: Record<string, string>) =>
        fetch(`${url}/_/api/me`, { headers }).then((res) => res.status);
      expect(await me({ cookie })).toBe(200);
      expect(await me({ authorization: `Bearer ${token}` })).toBe(200);

      const removed = await users("remove", "CY@example.com");
      expect(removed).toMatchObject({ code: 0, stderr: "" });
      expect(removed.stdout).toMatch(
        /^Removed cy@example\.com \(\[\d+,\d+\]\), 1 API token and 1 session$/,
      );
      expect(await me({ cookie })).toBe(401);
      expect(await me({ authorization: `Bearer ${token}` })).toBe(401);
      expect(await canLogIn("cy@example.com", "cy's password")).toBe(false);
      expect((await users("list")).stdout).not.toContain("cy@example.com");
      // The others are untouched.
      expect(await canLogIn("ada@example.com", "a whole new one")).toBe(true);
    } finally {
      await app.close();
    }
    const again = await users("remove", "cy@example.com");
    expect(again).toMatchObject({ code: 1, stdout: "" });
    expect(again.stderr).toBe("kiln users remove: no user with the email cy@example.com");
  });

  it.each([
    [
      "an email that is taken",
      ["add", "Ada@Example.com", "--password", "whatever123"],
      /already exists/,
    ],
    ["a short password", ["add", "cy@example.com", "--password", "short"], /at least 8/],
    ["an unknown user", ["disable", "nobody@example.com"], /no user with the email/],
  ])("exits 1 for %s, saying why", async (_name, args, message) => {
    const res = await users(...args);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(message);
  });

  it.each([
    ["no action", []],
    ["an unknown action", ["frobnicate"]],
    ["a missing EMAIL", ["add"]],
    ["an extra argument", ["disable", "a@example.com", "b@example.com"]],
    ["--password where it means nothing", ["list", "--password", "x"]],
    ["an unknown option", ["list", "--colour"]],
  ])("exits 2 for %s (a usage error)", async (_name, args) => {
    const res = await users(...args);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/kiln users/);
  });

  it("--help describes every action and exits 0", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      expect(await main(["users", "--help"])).toBe(0);
      const help = String(log.mock.calls[0]?.[0]);
      for (const action of [
        "add EMAIL",
        "list",
        "disable EMAIL",
        "enable EMAIL",
        "set-password EMAIL",
        "remove EMAIL",
      ]) {
        expect(help).toContain(action);
      }
    } finally {
      log.mockRestore();
    }
  });
});
