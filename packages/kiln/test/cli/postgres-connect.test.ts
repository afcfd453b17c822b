/**
 * A PostgreSQL that cannot be used at start (nothing listening, an unknown role, a missing
 * database) stops `kiln start` with one line saying what failed and how to fix it, exit 1:
 * never a stack trace from inside pg. Real servers and real bad URLs, no stubs.
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgTestsEnabled } from "../support/pg.ts";
import { runKiln, tempFolder, writeFiles } from "./run-kiln.ts";

const runPg = await pgTestsEnabled();
let folder: ReturnType<typeof tempFolder>;
beforeAll(() => {
  folder = tempFolder();
  writeFiles(folder.dir, { "kiln.yaml": "name: pgapp\ntables:\n  notes:\n    text: text\n" });
});
afterAll(() => folder.remove());

/** `kiln start` with this DATABASE_URL: its exit code and the single line it printed. */
async function startWith(url: string) {
  const run = await runKiln(["start", folder.dir, "--port", "0"], {
    env: { DATABASE_URL: url },
  });
  expect(run.stdout).toBe("");
  expect(run.stderr.split("\n"), run.stderr).toHaveLength(2); // one line and its newline
  expect(run.stderr).not.toMatch(/\n\s+at /); // no stack frame
  return { code: run.code, line: run.stderr.trimEnd() };
}

/** A port on which nothing listens: bound by the system, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const { port } = server.address() as { port: number };
  await new Promise((closed) => server.close(closed));
  return port;
}

describe("kiln start: a PostgreSQL it cannot use is one line and exit 1", () => {
  it("nothing listening on the port: says so and names host and port", async () => {
    const port = await closedPort();
    const { code, line } = await startWith(`postgres://postgres@127.0.0.1:${port}/test`);
    expect(code).toBe(1);
    expect(line).toBe(
      `kiln start: Cannot use PostgreSQL at 127.0.0.1:${port}/test as postgres (DATABASE_URL): connection refused. Is PostgreSQL running and listening on 127.0.0.1 port ${port}? Start it, or fix the host and port in DATABASE_URL.`,
    );
  });

  it("a host that does not exist: names it, and never shows the password", async () => {
    const { code, line } = await startWith("postgres://ada:hunter2secret@no-such-host.invalid/app");
    expect(code).toBe(1);
    expect(line).toContain('host "no-such-host.invalid" not found');
    expect(line).not.toContain("hunter2secret");
  });

  it.skipIf(!runPg)("a role that does not exist: names it and says how to create it", async () => {
    const { code, line } = await startWith("postgres://no_such_role_kiln@127.0.0.1:5432/test");
    expect(code).toBe(1);
    expect(line).toBe(
      'kiln start: Cannot use PostgreSQL at 127.0.0.1:5432/test as no_such_role_kiln (DATABASE_URL): role "no_such_role_kiln" does not exist. Create the role (createuser no_such_role_kiln) or fix the user name in DATABASE_URL.',
    );
  });

  it.skipIf(!runPg)(
    "a database that does not exist: names it and gives the createdb line",
    async () => {
      const { code, line } = await startWith("postgres://postgres@127.0.0.1:5432/no_such_db_kiln");
      expect(code).toBe(1);
      expect(line).toBe(
        'kiln start: Cannot use PostgreSQL at 127.0.0.1:5432/no_such_db_kiln as postgres (DATABASE_URL): database "no_such_db_kiln" does not exist. Create it (createdb -h 127.0.0.1 -p 5432 -U postgres no_such_db_kiln) or fix the database name in DATABASE_URL.',
      );
    },
  );
});
