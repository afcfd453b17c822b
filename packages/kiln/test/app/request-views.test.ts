/*
 * An app whose code never imports the request views (`request`, `session`, `cookies`, `users`,
 * `tables`, `inTransaction`) runs its requests without AsyncLocalStorage, which on Node.js 20
 * and 22 would turn async hooks on for the whole process. loadApp reads the app's modules to
 * decide; anything it cannot be sure of counts as a use, so an app that does use a view always
 * gets one that works (after any await).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { serverModules } from "../../src/app/load-app.ts";
import { scanRequestViews } from "../../src/app/request-views-scan.ts";
import { createApp, type KilnApp, loadApp, request, tables } from "../../src/index.ts";
import { KILN_PACKAGE, writeFiles } from "../cli/run-kiln.ts";

const dirs: string[] = [];
const apps: KilnApp[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A folder holding `files`; returns it and the scan of its `server/` modules. */
function scan(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "kiln-views-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const server = Object.keys(files)
    .filter((f) => f.startsWith("server/"))
    .map((f) => join(dir, f));
  return scanRequestViews(dir, server);
}

const server = (text: string) => scan({ "server/api.ts": text });

describe("reading an app's modules for the request views", () => {
  it("finds none in an app that uses only the handler's context", () => {
    expect(
      server(`import { type HandlerContext, HttpError, httpEndpoint, type Row } from "kilnjs";
import type { Session } from "kilnjs";
import { readFileSync } from "node:fs";
import path from "path";
httpEndpoint("/a", async (_, { tables, session }: HandlerContext) => tables.a.search().toArray());`),
    ).toEqual({ uses: false, reason: null });
  });

  it.each([
    [`import { tables } from "kilnjs";`, 'imports tables from "kilnjs"'],
    [`import { httpEndpoint, users as u } from "kilnjs";`, "users"],
    [`import {\n  httpEndpoint,\n  request,\n} from "kilnjs";`, "request"],
    [`import { type Row, session } from 'kilnjs';`, "session"],
    [`import * as kiln from "kilnjs";`, "every view"],
    [`import kiln, { httpEndpoint } from "kilnjs";`, "default export"],
    [`export { cookies } from "kilnjs";`, "cookies"],
    [`export * from "kilnjs";`, "every view"],
    [`const k = await import("kilnjs");`, 'import("kilnjs")'],
    [`const k = require("kilnjs");`, 'require("kilnjs")'],
    [`const name = "kiln" + "js"; await import(name);`, "computed module name"],
    [`export type A = B\nimport { inTransaction } from "kilnjs"`, "inTransaction"],
    [`import { "tables" as t } from "kilnjs";`, "cannot read"],
    [
      `import { currentContext } from "kilnjs/dist/http/context.js";`,
      '"kilnjs/dist/http/context.js"',
    ],
    [`export type Tables = import("kilnjs").TablesAccessor;`, 'import("kilnjs")'],
    // Forms a review found reading as view-free before:
    [`import {\n  httpEndpoint,\n  // data access\n  tables,\n} from "kilnjs";`, "tables"],
    [`import { /* db */ tables } from "kilnjs";`, "tables"],
    [`/** Endpoints that export {@link Note} rows */\nimport { tables } from "kilnjs";`, "tables"],
    [`export { x }\nimport { tables } from "kilnjs"`, "tables"],
    [`export interface Opts { verbose: boolean }\nimport { tables } from "kilnjs";`, "tables"],
    [`import type from "kilnjs";`, "default export"],
    [`import { t\\u0061bles } from "kilnjs";`, "cannot read"],
    [`const load = createRequire(import.meta.url); load("../lib/db.cjs");`, "createRequire"],
    [`httpEndpoint("/a", (_, ctx) => ctx.app.users.signupWithEmail("a@b.c", "pw"));`, "app object"],
    [`httpEndpoint("/a", (_, { user, app }) => app.users.getUser());`, "app object"],
  ])("counts %j as a use", (text, why) => {
    const result = server(text);
    expect(result.uses).toBe(true);
    expect(result.reason).toContain(why);
    expect(result.reason).toMatch(/^server\/api\.ts /);
  });

  it("follows the app's own imports, with TypeScript's .js for .ts and folder indexes", () => {
    const result = scan({
      "server/api.ts": `import { list } from "../lib/tasks.js";\nimport "./setup";`,
      "server/setup.ts": `import { helper } from "../lib";`,
      "lib/index.ts": `export const helper = 1;`,
      "lib/tasks.ts": `import { more } from "./deeper/more.ts";\nexport const list = more;`,
      "lib/deeper/more.ts": `import { tables } from "kilnjs";\nexport const more = () => tables;`,
    });
    expect(result).toEqual({
      uses: true,
      reason: 'lib/deeper/more.ts imports tables from "kilnjs"',
    });
  });

  it("ignores comments, and reads a type-only import from kilnjs as no use", () => {
    expect(
      server(`// Uses "kilnjs" like this: import { tables } from "kilnjs"
/* import { session } from "kilnjs"; */
import type { Row } from "kilnjs";
import { type Session, httpEndpoint } from "kilnjs";
export type { HandlerContext } from "kilnjs";`),
    ).toEqual({ uses: false, reason: null });
  });

  it.each([
    ["../lib/view.js", "lib/view.tsx"],
    ["../lib/db.ts?v=2", "lib/db.ts"],
    ["../lib/legacy.cjs", "lib/legacy.cts"],
  ])("follows %j to %s", (specifier, file) => {
    const result = scan({
      "server/api.ts": `import { x } from "${specifier}";`,
      [file]: `import { tables } from "kilnjs";\nexport const x = tables;`,
    });
    expect(result.reason).toBe(`${file} imports tables from "kilnjs"`);
  });

  it("counts a relative import it cannot find, and path aliases, as a use", () => {
    expect(server(`import { x } from "../lib/missing.js";`).reason).toBe(
      'server/api.ts imports "../lib/missing.js", a file it cannot find',
    );
    expect(
      scan({
        "tsconfig.json": `{ "compilerOptions": { "paths": { "utils/*": ["lib/*"] } } }`,
        "server/api.ts": `import { x } from "utils/db";`,
      }).reason,
    ).toBe("tsconfig.json has path aliases, which it does not follow");
  });

  it("reads a CommonJS helper too", () => {
    const result = scan({
      "server/api.ts": `import { list } from "../lib/legacy.cjs";`,
      "lib/legacy.cjs": `const { tables } = require("kilnjs");\nmodule.exports = { list: () => tables };`,
    });
    expect(result.reason).toBe('lib/legacy.cjs calls require("kilnjs")');
  });

  it("counts a linked (workspace) package as a use: it may reach kilnjs through hoisting", () => {
    const shared = mkdtempSync(join(tmpdir(), "kiln-views-linked-"));
    dirs.push(shared);
    writeFileSync(join(shared, "package.json"), JSON.stringify({ name: "shared" }));
    const app = mkdtempSync(join(tmpdir(), "kiln-views-"));
    dirs.push(app);
    writeFiles(app, { "server/api.ts": `import { helper } from "shared";` });
    mkdirSync(join(app, "node_modules"));
    symlinkSync(shared, join(app, "node_modules", "shared"), "dir");
    expect(scanRequestViews(app, [join(app, "server/api.ts")]).reason).toBe(
      'server/api.ts imports "shared", a linked (workspace) package',
    );
  });

  it("does not take pnpm's links into its store for workspace packages", () => {
    const app = mkdtempSync(join(tmpdir(), "kiln-views-pnpm-"));
    dirs.push(app);
    writeFiles(app, {
      "server/api.ts": `import { z } from "zod";`,
      "node_modules/.pnpm/zod@4.0.0/node_modules/zod/package.json": JSON.stringify({
        name: "zod",
      }),
    });
    symlinkSync(
      join(app, "node_modules/.pnpm/zod@4.0.0/node_modules/zod"),
      join(app, "node_modules", "zod"),
      "dir",
    );
    expect(scanRequestViews(app, [join(app, "server/api.ts")])).toEqual({
      uses: false,
      reason: null,
    });
  });

  it("counts a package that depends on kilnjs, or a name it cannot find, as a use", () => {
    const plugin = scan({
      "server/api.ts": `import { plugin } from "kiln-plugin";`,
      "node_modules/kiln-plugin/package.json": JSON.stringify({
        name: "kiln-plugin",
        peerDependencies: { kilnjs: "^0.2.0" },
      }),
    });
    expect(plugin.reason).toBe('server/api.ts imports "kiln-plugin", which depends on kilnjs');
    const unknown = server(`import { db } from "@/lib/db";`);
    expect(unknown.reason).toBe(
      'server/api.ts imports "@/lib/db", which is not a package it can find',
    );
    const transitive = scan({
      "server/api.ts": `import { auth } from "acme-auth";`,
      "node_modules/acme-auth/package.json": JSON.stringify({
        name: "acme-auth",
        dependencies: { "acme-core": "1" },
      }),
      "node_modules/acme-core/package.json": JSON.stringify({
        name: "acme-core",
        peerDependencies: { kilnjs: "^0.2.0" },
      }),
    });
    expect(transitive.reason).toBe(
      'server/api.ts imports "acme-auth", which depends on acme-core, which reaches kilnjs',
    );
    const alias = scan({
      "server/api.ts": `import { tables } from "kiln";`,
      "node_modules/kiln/package.json": JSON.stringify({ name: "kilnjs" }),
    });
    expect(alias.reason).toBe('server/api.ts imports "kiln", which is kilnjs under another name');
    const unrelated = scan({
      "server/api.ts": `import { z } from "zod/v4";`,
      "node_modules/zod/package.json": JSON.stringify({ name: "zod", dependencies: {} }),
    });
    expect(unrelated).toEqual({ uses: false, reason: null });
  });
});

it("finds none in the To-Do example, so its requests skip AsyncLocalStorage", () => {
  const todo = join(import.meta.dirname, "../../../../examples/todo");
  expect(scanRequestViews(todo, serverModules(todo))).toEqual({ uses: false, reason: null });
});

/** An app folder whose modules can `import ... from "kilnjs"`. */
function appFolder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-views-app-"));
  dirs.push(dir);
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(KILN_PACKAGE, join(dir, "node_modules", "kilnjs"), "dir");
  writeFiles(dir, files);
  return dir;
}

async function serve(dir: string): Promise<{ app: KilnApp; url: string }> {
  const app = await loadApp(dir, { logger: false, dataDir: join(dir, "data") });
  apps.push(app);
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return { app, url: `${url}${app.prefix}` };
}

describe("loadApp", () => {
  it("runs an app that imports no view without AsyncLocalStorage, and its context works", async () => {
    const { app, url } = await serve(
      appFolder({
        "kiln.yaml": "tables:\n  notes:\n    text: text\n",
        "server/notes.ts": `import { httpEndpoint } from "kilnjs";
httpEndpoint("/notes", { methods: ["POST"] }, async ({ text }, { tables }) => {
  await new Promise((done) => setTimeout(done, 5));
  await tables.notes.addRow({ text: text ?? "" });
  return (await tables.notes.search().toArray()).map((n) => n.text);
});`,
      }),
    );
    expect(app.requestViews).toBe(false);
    const res = await fetch(`${url}/notes?text=hello`, { method: "POST" });
    expect(await res.json()).toEqual(["hello"]);
  });

  it("runs an app whose helper imports a view inside AsyncLocalStorage, so the view works after awaits", async () => {
    const { app, url } = await serve(
      appFolder({
        "kiln.yaml": "tables:\n  notes:\n    text: text\n",
        "lib/notes.ts": `import { request, tables } from "kilnjs";
export async function addNote() {
  await new Promise((done) => setTimeout(done, 5));
  await tables.notes.addRow({ text: String(request.queryParams.text) });
  return (await tables.notes.search().toArray()).map((n) => n.text);
}`,
        "server/notes.ts": `import { httpEndpoint } from "kilnjs";
import { addNote } from "../lib/notes.ts";
httpEndpoint("/notes", { methods: ["POST"] }, () => addNote());`,
      }),
    );
    expect(app.requestViews).toBe(true);
    const res = await fetch(`${url}/notes?text=hello`, { method: "POST" });
    expect(await res.json()).toEqual(["hello"]);
  });

  it("keeps AsyncLocalStorage for endpoints and start hooks added in code, which it did not read", async () => {
    const dir = appFolder({
      "kiln.yaml": "tables:\n  notes:\n    text: text\n",
      "server/hello.ts": `import { httpEndpoint } from "kilnjs";\nhttpEndpoint("/hello", () => "hi");`,
    });
    const app = await loadApp(dir, { logger: false, dataDir: join(dir, "data") });
    apps.push(app);
    expect(app.requestViews).toBe(false);
    app.httpEndpoint("/notes", { methods: ["POST"] }, async ({ text }) => {
      await new Promise((done) => setTimeout(done, 5));
      await tables.notes.addRow({ text: text ?? "" });
      return (await tables.notes.search().toArray()).map((n) => n.text);
    });
    expect(app.requestViews).toBe(true);
    const url = `${await app.listen({ port: 0, host: "127.0.0.1" })}${app.prefix}`;
    const res = await fetch(`${url}/notes?text=hello`, { method: "POST" });
    expect(await res.json()).toEqual(["hello"]);
    // A requireAuth default given in code is code it did not read either.
    const other = await loadApp(dir, {
      logger: false,
      dataDir: join(dir, "data2"),
      endpoints: { requireAuth: () => request.headers["x-key"] === "k" },
    });
    expect(other.requestViews).toBe(true);
  });

  it("lets an app made in code opt out with requestViews: false, its context still working", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-views-code-"));
    dirs.push(dir);
    const app = createApp({ logger: false, dataDir: dir, requestViews: false });
    apps.push(app);
    app.httpEndpoint("/visits", async (_, { session }) => {
      await new Promise((done) => setTimeout(done, 5));
      const visits = (session.get<number>("visits") ?? 0) + 1;
      session.set("visits", visits);
      return { visits, views: app.requestViews };
    });
    const url = `${await app.listen({ port: 0, host: "127.0.0.1" })}${app.prefix}`;
    const first = await fetch(`${url}/visits`);
    const cookie = first.headers.get("set-cookie")?.split(";")[0] ?? "";
    expect(await first.json()).toEqual({ visits: 1, views: false });
    const second = await fetch(`${url}/visits`, { headers: { cookie } });
    expect(await second.json()).toEqual({ visits: 2, views: false });
  });
});
