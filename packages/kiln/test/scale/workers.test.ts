import { afterEach, describe, expect, it } from "vitest";
import { type TestDatabase, testDialects } from "../support/dialects.ts";
import { alive, basic, call, eventually, type Served, serve } from "./processes.ts";

/*
 * `kiln start --workers 2` as an operator runs it: one port, node:cluster workers, on SQLite
 * (one machine) and PostgreSQL. A worker is found by the pid it answers with; requests go
 * over fresh connections, which the primary hands to the workers in turn.
 */

const EMAIL = "wanda@example.com";
const PASSWORD = "workers share one database";

/** Distinct pids answering GET /pid, over fresh connections, until `want` are seen. */
async function workerPids(api: string, want: number, exclude: number[] = []): Promise<number[]> {
  const seen = new Set<number>();
  return eventually(`${want} workers answering`, async () => {
    const { body } = await call(`${api}/pid`);
    const pid = (body as { pid: number }).pid;
    if (!exclude.includes(pid)) seen.add(pid);
    return seen.size >= want ? [...seen] : undefined;
  });
}

let running: Served | undefined;
let database: TestDatabase | undefined;
afterEach(async () => {
  await running?.kiln.stop();
  await database?.cleanup();
  running = undefined;
  database = undefined;
});

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: kiln start --workers 2`, () => {
    it("serves from two workers sharing one port and database, replaces a worker killed outright, and drains them all on SIGTERM", async () => {
      database = await dialect.freshDatabase();
      const env: Record<string, string> = database.databaseUrl
        ? { DATABASE_URL: database.databaseUrl }
        : {};
      running = await serve({ data: database.dataDir, env, args: ["--workers", "2"] });
      const { api, kiln } = running;
      expect(kiln.stderr).toMatch(
        /kiln: scale is serving at http:\/\/127\.0\.0\.1:\d+\/_\/api with 2 workers/,
      );

      // Both workers answer on the one port, and write to the same database.
      const [first, second] = await workerPids(api, 2);
      expect([first, second]).not.toContain(kiln.child.pid);
      const signup = await call(`${api}/signup`, { form: { email: EMAIL, password: PASSWORD } });
      expect(signup.status).toBe(200);
      const added = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          call(`${api}/notes`, { headers: basic(EMAIL, PASSWORD), form: { text: `note ${i}` } }),
        ),
      );
      expect(added.map((a) => a.status)).toEqual(Array(10).fill(200));
      expect(new Set(added.map((a) => (a.body as { pid: number }).pid)).size).toBe(2);
      for (let i = 0; i < 4; i++) {
        const list = await call(`${api}/notes`, { headers: basic(EMAIL, PASSWORD) });
        expect((list.body as string[]).length).toBe(10);
      }

      // A worker killed outright is replaced. (A connection node:cluster hands to a worker in
      // the instant it dies is lost with it, so the test asks again only once the primary
      // has seen the death.)
      process.kill(first!, "SIGKILL");
      await kiln.waitFor(new RegExp(`worker ${first} exited \\(SIGKILL\\); starting another`));
      const [replacement] = await workerPids(api, 1, [first!, second!]);
      expect(alive(first!)).toBe(false);
      const list = await call(`${api}/notes`, { headers: basic(EMAIL, PASSWORD) });
      expect((list.body as string[]).length).toBe(10);

      // SIGTERM to the whole group at once, as Ctrl-C or systemd sends it: the workers get it
      // twice (directly and from the primary) and still finish what is in flight.
      const inFlight = Promise.all(
        Array.from({ length: 4 }, () => call(`${api}/slow?ms=1500`).then((a) => a.status)),
      );
      await new Promise((wait) => setTimeout(wait, 500));
      for (const pid of [kiln.child.pid!, second!, replacement!]) process.kill(pid, "SIGTERM");
      expect(await inFlight).toEqual([200, 200, 200, 200]);
      expect(await kiln.exited).toBe(0);
      expect(alive(second!)).toBe(false);
      expect(alive(replacement!)).toBe(false);
      expect(kiln.stderr).not.toMatch(/did not stop cleanly|error/i);
    }, 90_000); // about 15 s, most of it three cold starts; generous for a loaded CI machine
  });
}
