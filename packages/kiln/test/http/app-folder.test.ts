import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type KilnApp, KilnError, loadApp } from "../../src/index.ts";

const KILN_PACKAGE = resolve(import.meta.dirname, "../..");

let dir: string;
let app: KilnApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Writes an app folder (files by relative path) whose modules can `import ... from "kilnjs"`. */
function appFolder(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), "kiln-app-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(KILN_PACKAGE, join(dir, "node_modules", "kilnjs"), "dir");
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

async function loadError(folder: string): Promise<KilnError> {
  try {
    app = await loadApp(folder, { logger: false });
  } catch (error) {
    return error as KilnError;
  }
  throw new Error("expected loadApp to fail");
}

describe("an app folder", () => {
  it("loads kiln.yaml and every TypeScript module under server/, nested ones too, without a build", async () => {
    appFolder({
      "kiln.yaml": "name: notes\napi:\n  prefix: /api\n",
      "server/hello.ts": `import { httpEndpoint } from "kilnjs";
interface Greeting { hello: string }
const greet = (who: string): Greeting => ({ hello: who });
httpEndpoint("/hello/:who", ({ who }) => greet(who));
`,
      "server/admin/stats.ts": `import { httpEndpoint } from "kilnjs";
httpEndpoint("/admin/stats", () => ({ ok: true }));
`,
      "server/hello.test.ts": `throw new Error("test files are not server modules");`,
      "server/types.d.ts": `declare const x: number;`,
    });
    app = await loadApp(dir, { logger: false });
    expect(app.name).toBe("notes");
    expect((await app.inject({ url: "/api/hello/kiln" })).json()).toEqual({ hello: "kiln" });
    expect((await app.inject({ url: "/api/admin/stats" })).json()).toEqual({ ok: true });
    expect(app.dataDir).toBe(join(dir, ".kiln"));
  });

  it("a missing folder is KILN_APP_NOT_FOUND", async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-app-"));
    const error = await loadError(join(dir, "nope"));
    expect(error.code).toBe("KILN_APP_NOT_FOUND");
    expect(error.message).toContain("nope");
  });

  it("a folder without kiln.yaml is KILN_APP_NOT_FOUND", async () => {
    appFolder({ "server/x.ts": "" });
    const error = await loadError(dir);
    expect(error.code).toBe("KILN_APP_NOT_FOUND");
    expect(error.message).toMatch(/kiln\.yaml/);
  });

  it("a kiln.yaml that is not valid YAML is KILN_BAD_CONFIG naming the file and line", async () => {
    appFolder({ "kiln.yaml": "name: x\ntables:\n  tasks: [unclosed\n" });
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(KilnError);
    expect(error.code).toBe("KILN_BAD_CONFIG");
    expect(error.message).toMatch(/kiln\.yaml:\d+:\d+: /);
  });

  it("a kiln.yaml with a bad value names the line of that value", async () => {
    appFolder({ "kiln.yaml": "name: x\n\napi:\n  prefix: api/\n" });
    const error = await loadError(dir);
    expect(error.code).toBe("KILN_BAD_CONFIG");
    expect(error.message).toMatch(/kiln\.yaml:4: api\.prefix must be "" or start with "\/"/);
  });

  it("kiln.yaml's bodyLimit takes a unit; a bad one is KILN_BAD_CONFIG with its line", async () => {
    appFolder({ "kiln.yaml": "name: x\nsettings:\n  bodyLimit: 1KB\n" });
    const loaded = await loadApp(dir, { logger: false });
    app = loaded;
    loaded.httpEndpoint("/echo", () => "ok");
    const post = (size: number) =>
      loaded.inject({
        method: "POST",
        url: "/_/api/echo",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify("x".repeat(size - 2)),
      });
    expect((await post(1024)).statusCode).toBe(200);
    expect((await post(2048)).statusCode).toBe(413);
    await loaded.close();
    app = undefined;
    rmSync(dir, { recursive: true, force: true });

    appFolder({ "kiln.yaml": "name: x\n\nsettings:\n  bodyLimit: 10 megs\n" });
    const error = await loadError(dir);
    expect(error.code).toBe("KILN_BAD_CONFIG");
    expect(error.message).toMatch(/kiln\.yaml:4: settings\.bodyLimit must be a number of bytes /);
    expect(error.message).toContain('(got "10 megs")');
  });

  it("a server module that throws is KILN_MODULE_LOAD_FAILED naming the file", async () => {
    appFolder({
      "kiln.yaml": "name: x\n",
      "server/broken.ts": `throw new Error("cannot start: missing setting");\n`,
    });
    const error = await loadError(dir);
    expect(error.code).toBe("KILN_MODULE_LOAD_FAILED");
    expect(error.message).toContain(join("server", "broken.ts"));
    expect(error.message).toContain("cannot start: missing setting");
  });

  it("overrides (data folder, logger) win over the folder's defaults", async () => {
    appFolder({ "kiln.yaml": "name: x\n" });
    const dataDir = join(dir, "elsewhere");
    app = await loadApp(dir, { logger: false, dataDir });
    expect(app.dataDir).toBe(dataDir);
    expect((await app.inject({ url: "/_/health" })).statusCode).toBe(200);
  });
});
