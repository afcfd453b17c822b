import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KILN_YAML_KEYS } from "../../src/app/config.ts";
import { resolveConfig } from "../../src/app/resolve-config.ts";
import { createApp, type KilnApp } from "../../src/index.ts";
import type { KeyTree } from "../../src/runtime/config-keys.ts";

/*
 * Configuration is resolved once (app/resolve-config.ts) and passed down: nothing else in
 * src/ reads the environment, and docs/configuration.md lists every variable and key.
 */

const SRC = resolve(import.meta.dirname, "../../src");
const DOC = resolve(import.meta.dirname, "../../../../docs/configuration.md");
/** The only files that may read the process's environment: the resolver and the CLI's entry. */
const ENV_READERS = ["app/resolve-config.ts", "cli/main.ts"];

const apps: KilnApp[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function sources(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: "utf8" })
    .filter((file) => /\.[mc]?ts$/.test(file))
    .map((file) => join(SRC, file));
}

/** The rows of the table under `## heading` in docs/configuration.md: first cell, unquoted. */
function documented(heading: string): string[] {
  const text = readFileSync(DOC, "utf8");
  const section = text.split(/^## /m).find((part) => part.startsWith(heading)) ?? "";
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] as string);
}

/** Every leaf of a key tree as a dotted path, `*` (names the app chooses) as `*`. */
function leaves(tree: KeyTree, prefix = ""): string[] {
  return Object.entries(tree).flatMap(([key, child]) =>
    child === true ? [`${prefix}${key}`] : leaves(child, `${prefix}${key}.`),
  );
}

describe("configuration resolved in one place", () => {
  it("no file of src/ but the resolver and the CLI's entry point reads process.env", () => {
    const readers = sources()
      .filter((file) => /process\.env\b/.test(readFileSync(file, "utf8")))
      .map((file) => relative(SRC, file));
    expect(readers.sort()).toEqual([...ENV_READERS].sort());
  });

  it("docs/configuration.md lists exactly the environment variables Kiln reads", () => {
    const text = readFileSync(join(SRC, "app/resolve-config.ts"), "utf8");
    const read = new Set([...text.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
    expect(documented("Environment variables").sort()).toEqual([...read].sort());
  });

  it("docs/configuration.md documents every kiln.yaml key", () => {
    // A row documents its key and everything under it: `services.users.scrypt` covers
    // `services.users.scrypt.N`; `services.users.guessing.*` covers each guessing key.
    const rows = documented("kiln.yaml").map((key) =>
      key.replace(/\.\*$/, "").replace(/\b(TABLE|COLUMN)\b/g, "*"),
    );
    const missing = leaves(KILN_YAML_KEYS).filter(
      (leaf) => !rows.some((row) => leaf === row || leaf.startsWith(`${row}.`)),
    );
    expect(missing).toEqual([]);
  });

  it("is frozen, and options and flags win over the environment", () => {
    const env = { PORT: "8080", KILN_DATA: "/from/env", DATABASE_URL: "postgres://env/db" };
    const config = resolveConfig({ env, dataDir: "/from/flag", dir: "/app" });
    expect(config).toMatchObject({
      port: 8080,
      dataDir: "/from/flag",
      databaseUrl: "postgres://env/db",
    });
    expect(resolveConfig({ env: {}, dir: "/app" }).dataDir).toBe("/app/.kiln");
    expect(resolveConfig({ env, port: 0 }).port).toBe(0);
    expect(Object.isFrozen(config) && Object.isFrozen(config.postgres)).toBe(true);
    // kiln.yaml's foundation keys are part of it, createApp's own options winning.
    const yaml = {
      name: "todo",
      api: { prefix: "" },
      settings: { bodyLimit: "2kb", trustProxy: true },
    };
    expect(resolveConfig({ ...yaml, env: {} })).toMatchObject({
      name: "todo",
      prefix: "",
      bodyLimit: 2048,
      trustProxy: true,
    });
    expect(resolveConfig({ ...yaml, trustProxy: false, env: {} }).trustProxy).toBe(false);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it.each([
    ["KILN_PG_POOL_SIZE", "ten", "KILN_PG_POOL_SIZE must be a whole number of connections"],
    ["KILN_PG_CONNECT_TIMEOUT_MS", "soon", "KILN_PG_CONNECT_TIMEOUT_MS must be a whole number"],
    ["KILN_SQLITE_SYNCHRONOUS", "off", 'KILN_SQLITE_SYNCHRONOUS must be "full" or "normal"'],
    ["PORT", "http", "PORT must be a port number from 0 to 65535"],
    ["LOG_LEVEL", "loud", "LOG_LEVEL must be one of fatal, error"],
  ])(
    "a bad %s=%s stops createApp with KILN_BAD_CONFIG naming the variable",
    (name, value, message) => {
      expect(() => createApp({ logger: false, env: { [name]: value } })).toThrow(
        expect.objectContaining({
          code: "KILN_BAD_CONFIG",
          message: expect.stringContaining(message),
        }),
      );
    },
  );

  it("an app reads the environment it is given, not the process's", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "kiln-config-"));
    dirs.push(dataDir);
    const app = createApp({
      name: "env",
      logger: false,
      env: { KILN_DATA: dataDir, KILN_SECRET: "a secret from the given environment" },
    });
    apps.push(app);
    expect(app.dataDir).toBe(dataDir);
    expect(app.secret).toBe("a secret from the given environment");
    const url = await app.listen({ port: 0 });
    expect((await fetch(`${url}/_/health`)).status).toBe(200);
  });
});
