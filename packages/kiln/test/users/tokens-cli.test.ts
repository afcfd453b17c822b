import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import { FAST_SCRYPT, users, usersApp } from "./users-test-app.ts";

let dir: string;
let appDir: string;
let data: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-tokens-cli-"));
  appDir = join(dir, "app");
  data = join(dir, "data");
  mkdirSync(appDir);
  writeFileSync(
    join(appDir, "kiln.yaml"),
    `name: clitest\nservices:\n  users:\n    scrypt: { N: ${FAST_SCRYPT.N}, r: 8, p: 1 }\n`,
  );
  expect((await kiln("users", "add", "ada@example.com", "--password", "correct horse")).code).toBe(
    0,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `kiln ...` in this process on the test app; resolves to its exit code and output. */
async function kiln(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((line) => out.push(String(line)));
  const error = vi.spyOn(console, "error").mockImplementation((line) => err.push(String(line)));
  try {
    const code = await main([...args, "--app", appDir, "--data", data]);
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** The status a running app of the same data answers a Bearer request with (real HTTP). */
async function statusWith(token: string): Promise<number> {
  const app = usersApp({ name: "clitest" }, data);
  app.httpEndpoint("/me", { authenticateUsers: true }, () => users.getUser()?.email);
  try {
    const url = await app.listen({ port: 0 });
    const res = await fetch(`${url}/_/api/me`, { headers: { authorization: `Bearer ${token}` } });
    return res.status;
  } finally {
    await app.close();
  }
}

describe("kiln tokens", () => {
  it("add prints only the secret on stdout; list shows it without the secret; revoke ends it", async () => {
    const added = await kiln(
      "tokens",
      "add",
      "ada@example.com",
      "--name",
      "deploy",
      "--expires",
      "30d",
    );
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^kiln_[A-Za-z0-9_-]{43}$/);
    expect(added.stderr).toMatch(/^Token \S+ \(deploy\) for ada@example\.com, expires \d{4}-/);
    const token = added.stdout;
    expect(await statusWith(token)).toBe(200);

    const listed = await kiln("tokens", "list", "ada@example.com");
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(token);
    const line = listed.stdout.split("\n").find((l) => l.includes("deploy"))!;
    const id = line.split(/\s+/)[0]!;
    expect(added.stderr).toContain(`Token ${id} `);
    expect(line).toMatch(/deploy\s+\d{4}-\S+Z\s+\d{4}-\S+Z/); // created, expires

    expect(await kiln("tokens", "revoke", id)).toMatchObject({
      code: 0,
      stdout: `Revoked token ${id}`,
    });
    expect(await statusWith(token)).toBe(401);
    expect((await kiln("tokens", "revoke", id)).code).toBe(1);
  });

  it("revoke-all revokes every token of the user", async () => {
    const a = (await kiln("tokens", "add", "ada@example.com")).stdout;
    const b = (await kiln("tokens", "add", "ada@example.com")).stdout;
    const res = await kiln("tokens", "revoke-all", "ada@example.com");
    expect(res).toMatchObject({ code: 0, stdout: "Revoked 2 tokens of ada@example.com" });
    expect([await statusWith(a), await statusWith(b)]).toEqual([401, 401]);
  });

  it("fails clearly on an unknown user, a bad lifetime, or a wrong call", async () => {
    expect(await kiln("tokens", "add", "nobody@example.com")).toMatchObject({
      code: 1,
      stderr: "kiln tokens add: no user with the email nobody@example.com",
    });
    const bad = await kiln("tokens", "add", "ada@example.com", "--expires", "soon");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/expiresIn must be/);
    expect((await kiln("tokens", "list")).code).toBe(2);
    expect((await kiln("tokens", "revoke", "x", "--name", "y")).code).toBe(2);
    expect((await kiln("tokens", "frobnicate", "x")).code).toBe(2);
  });
});
