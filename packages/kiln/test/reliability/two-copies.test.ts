import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { basicAuth, kilnCli, ROOT, startKiln, TODO_APP } from "./kiln-process.ts";

/**
 * Kiln loaded twice in one process: `kiln start` (the workspace's copy) serving an app whose
 * own node_modules holds another copy of kilnjs, the one its server modules import. That is
 * what two copies in node_modules or a linked checkout give. The app's `users.getUser()` must
 * still find the request's user (one registry, registered symbols), or a copy that cannot
 * share must refuse to load; an `authenticateUsers` handler never runs without a user.
 */

const KILN_PACKAGE = fileURLToPath(new URL("../../", import.meta.url));
const PASSWORD = { alice: "alice's long password", bob: "bob's long password" };

let root: string;

/** The To-Do example in a folder of its own, with its own copy of kilnjs in node_modules. */
function todoWithOwnKiln(name: string, edit?: (kilnDir: string) => void): string {
  const app = join(root, name);
  mkdirSync(join(app, "node_modules"), { recursive: true });
  cpSync(join(TODO_APP, "kiln.yaml"), join(app, "kiln.yaml"));
  cpSync(join(TODO_APP, "server"), join(app, "server"), { recursive: true });
  writeFileSync(join(app, "package.json"), JSON.stringify({ type: "module" }));
  const copy = join(app, "node_modules", "kilnjs");
  // What npm installs: the package.json, the CLI and the JavaScript build (vitest's global
  // setup keeps dist/ up to date with src/).
  for (const part of ["package.json", "dist", "bin"]) {
    cpSync(join(KILN_PACKAGE, part), join(copy, part), { recursive: true });
  }
  // The copy's own dependencies: the workspace's (only kiln itself is duplicated).
  const { dependencies } = JSON.parse(readFileSync(join(KILN_PACKAGE, "package.json"), "utf8"));
  for (const dependency of Object.keys(dependencies)) {
    const link = join(app, "node_modules", dependency);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", dependency), link);
  }
  edit?.(copy);
  return app;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "kiln-two-copies-"));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("two copies of kiln in one process", () => {
  it("the To-Do example still keeps each user's tasks their own", async () => {
    const app = todoWithOwnKiln("todo");
    const data = join(root, "todo-data");
    for (const [name, password] of Object.entries(PASSWORD)) {
      kilnCli([
        "users",
        "add",
        `${name}@example.com`,
        "--password",
        password,
        "--app",
        app,
        "--data",
        data,
      ]);
    }
    const server = await startKiln({ app, data });
    try {
      const as = (name: keyof typeof PASSWORD) => ({
        authorization: basicAuth(`${name}@example.com`, PASSWORD[name]),
      });
      const api = `${server.url}/_/api`;
      const created = await fetch(`${api}/new_task`, {
        method: "POST",
        headers: { ...as("alice"), "content-type": "application/json" },
        body: JSON.stringify({ title: "alice's secret" }),
      });
      expect(created.status).toBe(200);
      const { id } = (await created.json()) as { id: string };

      const alices = await fetch(`${api}/tasks`, { headers: as("alice") });
      expect(await alices.json()).toEqual([{ title: "alice's secret", done: false, id }]);
      const bobs = await fetch(`${api}/tasks`, { headers: as("bob") });
      expect(await bobs.json()).toEqual([]);
      const peek = await fetch(`${api}/tasks/${encodeURIComponent(id)}`, { headers: as("bob") });
      expect(peek.status).toBe(404);
      // And the row itself has its owner (an ownerless task would be everybody's and nobody's).
      const rows = kilnCli(["tables", "export", "tasks", "--app", app, "--data", data]);
      expect(rows).toMatch(/^"\[\d+,\d+\]",alice's secret,false,"\[\d+,\d+\]"$/m);
    } finally {
      server.signal("SIGTERM");
      await server.exited;
    }
  }, 240_000); // four processes start one after the other (a minute on a busy machine)

  it("a copy whose shared state differs (another version) refuses to load, with a clear error", async () => {
    const app = todoWithOwnKiln("other-version", (copy) => {
      const file = join(copy, "dist", "http", "global-state.js");
      const source = readFileSync(file, "utf8");
      expect(source).toContain("const STATE_VERSION = 3;");
      writeFileSync(file, source.replace("const STATE_VERSION = 3;", "const STATE_VERSION = 4;"));
    });
    const started = startKiln({ app, data: join(root, "other-data") });
    const failure = await started.then(
      (server) => {
        server.signal("SIGKILL");
        return "it started";
      },
      (error: Error) => error.message,
    );
    expect(failure).toMatch(/kiln start exited early \(1\)/);
    expect(failure).toContain("Two incompatible copies of kiln are loaded in one process");
    expect(failure).toContain(join(app, "node_modules", "kilnjs"));
  }, 60_000);

  it("a copy loaded after kiln 0.1 (state version 1, per-copy keys) refuses to load too", async () => {
    // What kiln 0.1's global-state module left on globalThis, loaded before the CLI's kiln.
    const legacy = join(root, "kiln-0.1-state.mjs");
    writeFileSync(
      legacy,
      [
        'import { AsyncLocalStorage } from "node:async_hooks";',
        'globalThis[Symbol.for("kiln.globalState.v1")] ??= {',
        "  pending: [], als: new AsyncLocalStorage(), currentApp: undefined, loadedDirs: new Map(),",
        "};",
      ].join("\n"),
    );
    const started = startKiln({ data: join(root, "legacy-data"), nodeArgs: ["--import", legacy] });
    const failure = await started.then(
      (server) => {
        server.signal("SIGKILL");
        return "it started";
      },
      (error: Error) => error.message,
    );
    expect(failure).toMatch(/kiln start exited early \(1\)/);
    expect(failure).toContain(
      "Two incompatible copies of kiln are loaded in one process: kiln 0.1",
    );
  }, 60_000);
});
