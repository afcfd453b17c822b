import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgSchema, pgTestsEnabled } from "../support/pg.ts";
import {
  basic,
  call,
  cli,
  cookieFrom,
  SCALE_APP,
  type Served,
  serve,
  tempDir,
} from "./processes.ts";

/*
 * Two `kiln start` processes on two ports against one PostgreSQL schema, as two machines
 * behind a load balancer would run: each has its own data folder, and they share only
 * DATABASE_URL and KILN_SECRET (which keys the encrypted cookies; a session cookie is a random
 * token looked up in the database). Accounts are managed with
 * the `kiln users` CLI against the same database. Whatever one process (or the CLI) changes,
 * the other must honour on its very next request.
 */

const EMAIL = "ada@example.com";
const FIRST = "correct horse battery";
const SECOND = "a brand new passphrase";

const runPg = await pgTestsEnabled();

describe.skipIf(!runPg)("postgres: two kiln processes, one database", () => {
  let a: Served;
  let b: Served;
  let env: Record<string, string>;
  const cleanups: (() => unknown)[] = [];
  let dataA: string;
  const users = (...args: string[]) =>
    cli(["users", ...args, "--app", SCALE_APP, "--data", dataA], env);

  beforeAll(async () => {
    const schema = await createPgSchema();
    const [folderA, folderB] = [tempDir("kiln-scale-a-"), tempDir("kiln-scale-b-")];
    cleanups.push(schema.drop, folderA.remove, folderB.remove);
    dataA = folderA.dir;
    env = { DATABASE_URL: schema.url, KILN_SECRET: "one secret for every process of the app" };
    expect(await users("add", EMAIL, "--password", FIRST)).toMatch(/^Added ada@example\.com/);
    [a, b] = await Promise.all([serve({ data: dataA, env }), serve({ data: folderB.dir, env })]);
  }, 90_000);

  afterAll(async () => {
    const codes = await Promise.all([a?.kiln.stop(), b?.kiln.stop()]);
    for (const cleanup of cleanups.reverse()) await cleanup();
    expect(codes).toEqual([0, 0]);
  });

  it("a session created on one process is valid on the other", async () => {
    const login = await call(`${a.api}/login`, { form: { email: EMAIL, password: FIRST } });
    expect(login.status).toBe(200);
    const cookie = cookieFrom(login);
    const onA = await call(`${a.api}/me`, { headers: cookie });
    const onB = await call(`${b.api}/me`, { headers: cookie });
    expect(onB).toMatchObject({ status: 200, body: { email: EMAIL } });
    // Two processes really answered.
    expect((onB.body as { pid: number }).pid).not.toBe((onA.body as { pid: number }).pid);

    // And the other way round: a sign-up on B is logged in on A.
    const signup = await call(`${b.api}/signup`, {
      form: { email: "bob@example.com", password: "bob's long password" },
    });
    expect(signup.status).toBe(200);
    const bob = await call(`${a.api}/me`, { headers: cookieFrom(signup) });
    expect(bob).toMatchObject({ status: 200, body: { email: "bob@example.com" } });
  });

  it("an encrypted cookie set by one process reads on the other (they share KILN_SECRET)", async () => {
    const set = await call(`${a.api}/cookie?value=blue`);
    const read = await call(`${b.api}/cookie`, { headers: cookieFrom(set) });
    expect(read).toMatchObject({ status: 200, body: { value: "blue" } });
  });

  it("Basic credentials work on both, and rows written on one are read on the other", async () => {
    const note = await call(`${a.api}/notes`, {
      headers: basic(EMAIL, FIRST),
      form: { text: "written on A" },
    });
    expect(note.status).toBe(200);
    const list = await call(`${b.api}/notes`, { headers: basic(EMAIL, FIRST) });
    expect(list).toMatchObject({ status: 200, body: ["written on A"] });
  });

  it("a password changed through one process is refused by the other at once", async () => {
    // B has just verified the old password, so it remembers it (the credential memory).
    for (let i = 0; i < 3; i++) {
      expect((await call(`${b.api}/me`, { headers: basic(EMAIL, FIRST) })).status).toBe(200);
    }
    const changed = await call(`${a.api}/password`, {
      headers: basic(EMAIL, FIRST),
      form: { password: SECOND },
    });
    expect(changed.status).toBe(200);
    expect((await call(`${b.api}/me`, { headers: basic(EMAIL, FIRST) })).status).toBe(401);
    expect((await call(`${a.api}/me`, { headers: basic(EMAIL, FIRST) })).status).toBe(401);
    expect((await call(`${b.api}/me`, { headers: basic(EMAIL, SECOND) })).status).toBe(200);
  });

  it("an API token made with the CLI works on both; revoked with the CLI, both refuse it at once", async () => {
    const tokens = (...args: string[]) =>
      cli(["tokens", ...args, "--app", SCALE_APP, "--data", dataA], env);
    const token = (await tokens("add", EMAIL, "--name", "scale")).trim();
    expect(token).toMatch(/^kiln_/);
    const bearer = { authorization: `Bearer ${token}` };
    for (const api of [a.api, b.api]) {
      expect(await call(`${api}/me`, { headers: bearer })).toMatchObject({
        status: 200,
        body: { email: EMAIL },
      });
    }
    const id = (await tokens("list", EMAIL)).split("\n")[1]!.split(/\s+/)[0]!;
    expect(await tokens("revoke", id)).toMatch(/^Revoked token/);
    for (const api of [a.api, b.api]) {
      expect((await call(`${api}/me`, { headers: bearer })).status).toBe(401);
    }
  }, 120_000); // three CLI runs, each a cold start of node + tsx on a loaded machine

  it("a user disabled with the CLI is refused by every process at once, Basic and session alike", async () => {
    const login = await call(`${b.api}/login`, { form: { email: EMAIL, password: SECOND } });
    const cookie = cookieFrom(login);
    for (const api of [a.api, b.api]) {
      expect((await call(`${api}/me`, { headers: basic(EMAIL, SECOND) })).status).toBe(200);
      expect((await call(`${api}/me`, { headers: cookie })).status).toBe(200);
    }
    expect(await users("disable", EMAIL)).toMatch(/^Disabled ada@example\.com/);
    for (const api of [a.api, b.api]) {
      expect((await call(`${api}/me`, { headers: basic(EMAIL, SECOND) })).status).toBe(401);
      expect((await call(`${api}/me`, { headers: cookie })).status).toBe(401);
      const relogin = await call(`${api}/login`, { form: { email: EMAIL, password: SECOND } });
      expect(relogin.status).toBe(401);
    }
    const listed = await users("list");
    expect(listed).toMatch(/^ada@example\.com\s+no\s/m);
    expect(listed).toMatch(/^bob@example\.com\s+yes\s/m);
  });
});
