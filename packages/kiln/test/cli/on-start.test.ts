/**
 * Start-up code (seed data, warm caches) runs in `onStart`: after the tables are migrated,
 * before the first request, with `tables` and `users` working. Top-level `await tables...`
 * in a server module cannot work (modules are imported before the database is open), and its
 * error now says where such code goes.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, onStart, tables } from "../../src/index.ts";
import { get, runKiln, startKiln, tempFolder, writeFiles } from "./run-kiln.ts";

let tmp: ReturnType<typeof tempFolder>;
beforeAll(() => {
  tmp = tempFolder();
});
afterAll(() => tmp.remove());

const SERVING = /kiln: \S+ is serving at (http:\/\/\S+)/;

describe("onStart", { timeout: 120_000 }, () => {
  it("under kiln start, seeds a table before the first request, and only once across restarts", async () => {
    const dir = join(tmp.dir, "seeded");
    writeFiles(dir, {
      "kiln.yaml": "name: seeded\ntables:\n  tags:\n    name: text\n",
      "server/seed.ts": `import { httpEndpoint, onStart, tables } from "kilnjs";
onStart(async () => {
  if ((await tables.tags.search().count()) === 0) {
    await tables.tags.addRows([{ name: "home" }, { name: "work" }]);
  }
});
httpEndpoint("/tags", async () => (await tables.tags.search({}, { orderBy: "name" }).toArray()).map((t) => t.name));
`,
    });
    for (let start = 1; start <= 2; start++) {
      const server = startKiln(["start", dir, "--port", "0"]);
      try {
        const [, url] = await server.waitFor(SERVING);
        expect((await get(`${url}/tags`)).body).toBe('["home","work"]');
      } finally {
        expect(await server.stop()).toBe(0);
      }
    }
  });

  it("a function that throws stops kiln start with one line naming the error and its line, exit 1", async () => {
    const dir = join(tmp.dir, "throws");
    writeFiles(dir, {
      "kiln.yaml": "name: throws\n",
      "server/seed.ts": `import { onStart } from "kilnjs";
onStart(async () => {
  throw new Error("the seed file is missing");
});
`,
    });
    const { code, stderr } = await runKiln(["start", dir, "--port", "0"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^kiln start: An onStart function failed: the seed file is missing \(at .*server\/seed\.ts:3:\d+\)\n$/,
    );
  });

  it("top-level await on tables in a server module says to use onStart", async () => {
    const dir = join(tmp.dir, "toplevel");
    writeFiles(dir, {
      "kiln.yaml": "name: toplevel\ntables:\n  tags:\n    name: text\n",
      "server/seed.ts": `import { tables } from "kilnjs";
await tables.tags.addRow({ name: "home" });
`,
    });
    const { code, stderr } = await runKiln(["start", dir, "--port", "0"]);
    expect(code).toBe(1);
    expect(stderr).toContain("`tables` was used at the top level of a server module");
    expect(stderr).toContain("onStart(async () =>");
  });

  it("runs with its own app as the current one, after the tables are ready (createApp)", async () => {
    // Not on a pending list for whichever app comes next: there is none.
    expect(() => onStart(() => undefined)).toThrow(/app\.onStart/);
    const first = createApp({ name: "first", logger: false, tables: { notes: { text: "text" } } });
    first.onStart(async () => {
      await tables.notes.addRow({ text: "from the first app.onStart" });
    });
    first.onStart(async () => {
      await tables.notes.addRow({ text: "from app.onStart" });
    });
    first.httpEndpoint("/notes", async () =>
      (await tables.notes.search().toArray()).map((n) => n.text),
    );
    // Another app in the process: first's hooks still act on first.
    const second = createApp({ name: "second", logger: false, tables: { other: { x: "text" } } });
    try {
      const res = await first.inject({ url: "/_/api/notes" });
      expect(res.json()).toEqual(["from the first app.onStart", "from app.onStart"]);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
