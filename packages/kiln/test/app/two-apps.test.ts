/*
 * An app is an explicit object: what registers on it (endpoints, start hooks) and what acts on
 * it (tables, users) says which app, so two apps in one process serve independently.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  createApp,
  httpEndpoint,
  inTransaction,
  type KilnApp,
  loadApp,
  onStart,
  tables,
  users,
} from "../../src/index.ts";
import { KILN_PACKAGE, writeFiles } from "../cli/run-kiln.ts";

const made: { app: KilnApp; dir: string }[] = [];
afterEach(async () => {
  for (const { app, dir } of made.splice(0).reverse()) {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "kiln-two-apps-"));
}

/** App A, made with createApp: a notes table and endpoints using the importable `tables`. */
function appA(): KilnApp {
  const dir = tempDir();
  const app = createApp({
    name: "a",
    dataDir: dir,
    logger: false,
    tables: { notes: { text: "text" } },
  });
  made.push({ app, dir });
  app.httpEndpoint("/notes", { methods: ["POST"] }, async ({ text }) => {
    await tables.notes.addRow({ text: text ?? "" });
    return (await tables.notes.search({}, { orderBy: "text" }).toArray()).map((n) => n.text);
  });
  app.httpEndpoint("/notes", { methods: ["GET"] }, async (_, { tables: own }) =>
    (await own.notes.search({}, { orderBy: "text" }).toArray()).map((n) => n.text),
  );
  return app;
}

/** An app folder whose modules can `import ... from "kilnjs"`. */
function appFolder(files: Record<string, string>): string {
  const dir = tempDir();
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(KILN_PACKAGE, join(dir, "node_modules", "kilnjs"), "dir");
  writeFiles(dir, files);
  return dir;
}

async function load(dir: string): Promise<KilnApp> {
  const app = await loadApp(dir, { logger: false, dataDir: join(dir, "data") });
  made.push({ app, dir });
  return app;
}

/** App B, an app folder loaded with loadApp: an items table, a start hook, its own config. */
function appB(): Promise<KilnApp> {
  return load(
    appFolder({
      "kiln.yaml": "name: b\napi:\n  prefix: /b\ntables:\n  items:\n    name: text\n",
      "server/items.ts": `import { httpEndpoint, onStart, tables } from "kilnjs";
onStart(async () => { await tables.items.addRow({ name: "seeded" }); });
httpEndpoint("/items", async () =>
  (await tables.items.search({}, { orderBy: "name" }).toArray()).map((i) => i.name));
`,
    }),
  );
}

describe("two apps in one process", () => {
  it("serve independently: each endpoint, start hook and `tables` acts on its own app", async () => {
    const a = appA();
    const b = await appB();
    await Promise.all([a.ready(), b.ready()]);
    const posted = await a.inject({ method: "POST", url: "/_/api/notes?text=x" });
    expect(posted.json()).toEqual(["x"]);
    expect((await b.inject({ url: "/b/items" })).json()).toEqual(["seeded"]);
    // Neither has the other's endpoints or tables.
    expect((await a.inject({ url: "/b/items" })).statusCode).toBe(404);
    expect((await b.inject({ url: "/_/api/notes" })).statusCode).toBe(404);
    expect(() => b.tables.notes).toThrow(expect.objectContaining({ code: "KILN_UNKNOWN_TABLE" }));
    expect(await a.tables.notes.search().count()).toBe(1);
    expect(await b.tables.items.search().count()).toBe(1);
  });

  it("app.tables writes to that app, and the handler's tables reads it back", async () => {
    const a = appA();
    const b = await appB();
    await a.ready();
    await b.ready();
    await a.tables.notes.addRow({ text: "from a script" });
    await b.tables.items.addRow({ name: "from b's script" });
    expect((await a.inject({ url: "/_/api/notes" })).json()).toEqual(["from a script"]);
    expect((await b.inject({ url: "/b/items" })).json()).toEqual(["from b's script", "seeded"]);
    await a.inTransaction(async () => {
      await a.tables.notes.addRow({ text: "in a transaction" });
    });
    expect(await a.tables.notes.search().count()).toBe(2);
  });

  it("an endpoint registered after A started is refused, and B never picks it up", async () => {
    const a = appA();
    await a.ready();
    expect(() => a.httpEndpoint("/late", () => "late")).toThrow(/after the app started/);
    expect(() => httpEndpoint("/late", () => "late")).toThrow(
      expect.objectContaining({
        code: "KILN_NO_APP",
        message: expect.stringContaining("app.httpEndpoint"),
      }),
    );
    expect(() => onStart(() => undefined)).toThrow(
      expect.objectContaining({
        code: "KILN_NO_APP",
        message: expect.stringContaining("app.onStart"),
      }),
    );
    const b = await appB();
    const dir = tempDir();
    const c = createApp({ name: "c", dataDir: dir, logger: false });
    made.push({ app: c, dir });
    expect((await a.inject({ url: "/_/api/late" })).statusCode).toBe(404);
    expect((await b.inject({ url: "/b/late" })).statusCode).toBe(404);
    expect((await c.inject({ url: "/_/api/late" })).statusCode).toBe(404);
  });

  it("the importable tables, users and inTransaction outside a request say to use the app's", async () => {
    const a = appA();
    await a.ready();
    const noRequest = (bound: string) =>
      expect.objectContaining({ code: "KILN_NO_REQUEST", message: expect.stringContaining(bound) });
    expect(() => tables.notes).toThrow(noRequest("app.tables"));
    expect(() => inTransaction(async () => 1)).toThrow(noRequest("app.inTransaction"));
    await expect(users.addUser("ada@example.com", "correct horse")).rejects.toMatchObject(
      noRequest("app.users"),
    );
    expect(() => users.getUser()).toThrow(noRequest("users.getUser()"));
  });

  it("two folders loaded at the same time each get their own modules' endpoints", async () => {
    // Each module awaits before registering its second endpoint: the loads would interleave.
    const folder = (name: string) =>
      appFolder({
        "kiln.yaml": `name: ${name}\n`,
        [`server/${name}.ts`]: `import { httpEndpoint } from "kilnjs";
httpEndpoint("/${name}-first", () => "${name}");
await new Promise((resolve) => setTimeout(resolve, 50));
httpEndpoint("/${name}-second", () => "${name}");
`,
      });
    const [one, two] = await Promise.all([load(folder("one")), load(folder("two"))]);
    expect(one.endpoints.map((e) => e.path)).toEqual(["/one-first", "/one-second"]);
    expect(two.endpoints.map((e) => e.path)).toEqual(["/two-first", "/two-second"]);
    expect((await two.inject({ url: "/_/api/two-second" })).body).toBe("two");
  });

  it("loading the same folder twice in one process gives two apps with the same endpoints", async () => {
    const first = await appB();
    const dir = first.config.dir!;
    const second = await loadApp(dir, { logger: false, dataDir: join(dir, "data2") });
    made.push({ app: second, dir: tempDir() });
    expect((await first.inject({ url: "/b/items" })).json()).toEqual(["seeded"]);
    expect((await second.inject({ url: "/b/items" })).json()).toEqual(["seeded"]);
    await first.tables.items.addRow({ name: "only in the first" });
    expect(await second.tables.items.search().count()).toBe(1);
  });
});
