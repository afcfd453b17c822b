import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVING, startKiln, tempFolder, writeFiles } from "./run-kiln.ts";

/**
 * `kiln start` run with umask 000 (everything the process creates would be world-writable by
 * default): the data folder must still be 0700, and the database, its WAL and SHM files and
 * the secret key 0600, with and without KILN_SECRET.
 */

let tmp: ReturnType<typeof tempFolder>;
beforeAll(() => {
  tmp = tempFolder();
});
afterAll(() => tmp.remove());

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** Starts `kiln start DIR` with umask 000 (the child inherits the umask at spawn). */
function startWithOpenUmask(dir: string, env: Record<string, string>) {
  const previous = process.umask(0o000);
  try {
    return startKiln(["start", dir, "--port", "0"], { cwd: tmp.dir, env });
  } finally {
    process.umask(previous);
  }
}

describe("kiln start under umask 000", { timeout: 120_000 }, () => {
  for (const withSecret of [false, true]) {
    it(`creates the data folder 0700 and its files 0600 (KILN_SECRET ${withSecret ? "set" : "unset"})`, async () => {
      const app = `app-${withSecret ? "secret" : "keyfile"}`;
      writeFiles(tmp.dir, {
        [`${app}/kiln.yaml`]: "name: modes\ntables:\n  notes:\n    text: text\n",
        [`${app}/server/notes.ts`]: `import { httpEndpoint, tables } from "kilnjs";
httpEndpoint("/add", { methods: ["POST"] }, async () => (await tables.notes.addRow({ text: "x" })).id);
`,
      });
      const env: Record<string, string> = withSecret ? { KILN_SECRET: "s".repeat(43) } : {};
      const server = startWithOpenUmask(join(tmp.dir, app), env);
      try {
        const [, url] = await server.waitFor(SERVING);
        const res = await fetch(`${url}/add`, { method: "POST" });
        expect(res.status).toBe(200);
        const data = join(tmp.dir, app, ".kiln");
        expect(mode(data)).toBe("700");
        const db = join(data, "app.db");
        // The server is still running: the WAL and SHM files exist now.
        for (const file of [db, `${db}-wal`, `${db}-shm`]) {
          expect(existsSync(file), file).toBe(true);
          expect(mode(file), file).toBe("600");
        }
        const key = join(data, "secret.key");
        if (withSecret) expect(existsSync(key)).toBe(false);
        else expect(mode(key)).toBe("600");
      } finally {
        expect(await server.stop()).toBe(0);
      }
    });
  }
});
