import { readFileSync } from "node:fs";
import { isMap, isScalar, LineCounter, parseDocument, type Scalar } from "yaml";
import {
  cookiesConfigKeys,
  readCookiesYaml,
  sessionsConfigKeys,
} from "../cookies/cookies-config.ts";
import { ConfigError, KilnError } from "../errors.ts";
import { checkKeys, type KeyTree } from "../runtime/config-keys.ts";
import { parseSchema } from "../tables/schema.ts";
import { readUsersSettings, usersConfigKeys } from "../users/users-config.ts";
import { builtInTables } from "./built-in-tables.ts";

/**
 * The shape of `kiln.yaml`. Tables and services are read by their own modules; this file only
 * checks what the foundation needs and keeps the rest as given.
 */
export interface KilnYaml {
  name: string;
  api?: { prefix?: string };
  /** `tables: { tasks: { title: text, done: bool, owner: link users } }` — see tables/schema. */
  tables?: Record<string, unknown>;
  /** Service settings: `users`, `cookies`, `sessions`. */
  services?: Record<string, unknown>;
  settings?: {
    bodyLimit?: number | string;
    trustProxy?: boolean;
  };
  /** Options every endpoint gets unless it sets its own (see app/endpoint-defaults.ts). */
  endpoints?: Record<string, unknown>;
}

/** Reads and checks `kiln.yaml`; errors name the file and the line. */
export function readKilnYaml(file: string): KilnYaml {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new KilnError("KILN_APP_NOT_FOUND", `No kiln.yaml at ${file}`);
  }
  return parseKilnYaml(text, file);
}

/** Every key kiln.yaml may hold; each capability lists its own. */
export const KILN_YAML_KEYS: KeyTree = {
  name: true,
  api: { prefix: true },
  // Tables and columns are the app's names; a column's long form has these options.
  tables: {
    "*": {
      "*": { type: true, index: true, indexed: true, unique: true, default: true, onUpdate: true },
    },
  },
  services: { users: usersConfigKeys, cookies: cookiesConfigKeys, sessions: sessionsConfigKeys },
  settings: { bodyLimit: true, trustProxy: true },
  // App-wide endpoint options: checked key by key by their reader (endpoint-defaults.ts).
  endpoints: true,
};

export function parseKilnYaml(text: string, file = "kiln.yaml"): KilnYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    // The yaml library ends its first line with " at line L, column C:", which we already give.
    const reason = first.message.split("\n", 1)[0]?.replace(/ at line \d+, column \d+:?$/, "");
    throw new KilnError("KILN_BAD_CONFIG", `${file}:${line}:${col}: ${reason}`);
  }
  const value: unknown = doc.toJS() ?? {};
  if (typeof value !== "object" || Array.isArray(value) || value === null) {
    throw new KilnError("KILN_BAD_CONFIG", `${file}: expected a mapping (name: ..., tables: ...)`);
  }
  try {
    return checkKilnYaml(value as Record<string, unknown>);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const offset = keyOffset(doc.contents, error.path);
    const where = offset === undefined ? file : `${file}:${lineCounter.linePos(offset).line}`;
    throw new KilnError("KILN_BAD_CONFIG", `${where}: ${error.reason}`, { cause: error });
  }
}

/**
 * Checks the whole of kiln.yaml before anything starts: unknown keys, then each part's values
 * (the same readers the services use later), so that every mistake names its line.
 */
function checkKilnYaml(config: Record<string, unknown>): KilnYaml {
  checkKeys(config, KILN_YAML_KEYS);
  if (config.name !== undefined && typeof config.name !== "string") {
    throw new ConfigError(["name"], "name must be a string");
  }
  for (const key of ["api", "tables", "services", "settings", "endpoints"]) {
    const section = config[key];
    if (section !== undefined && section !== null && !isMapping(section)) {
      throw new ConfigError([key], `${key} must be a mapping`);
    }
  }
  const prefix = (config.api as { prefix?: unknown } | undefined)?.prefix;
  if (prefix !== undefined && prefix !== null && !isPrefix(prefix)) {
    throw new ConfigError(
      ["api", "prefix"],
      `api.prefix must be "" or start with "/" (got ${JSON.stringify(prefix)})`,
    );
  }
  const settings = (config.settings ?? {}) as { bodyLimit?: unknown; trustProxy?: unknown };
  if (settings.bodyLimit !== undefined && settings.bodyLimit !== null) {
    try {
      bodyLimitBytes(settings.bodyLimit);
    } catch (error) {
      throw new ConfigError(["settings", "bodyLimit"], (error as Error).message);
    }
  }
  const trustProxy = settings.trustProxy;
  if (trustProxy !== undefined && trustProxy !== null && typeof trustProxy !== "boolean") {
    throw new ConfigError(
      ["settings", "trustProxy"],
      `settings.trustProxy must be true or false (got ${shown(trustProxy)})`,
    );
  }
  parseSchema(config.tables as Record<string, unknown> | undefined, builtInTables);
  const services = config.services as Record<string, unknown> | undefined;
  readUsersSettings(services ?? undefined);
  readCookiesYaml(services ?? undefined);
  return { name: "kiln-app", ...config } as KilnYaml;
}

/** Where the deepest key of `path` that the document has starts (its line names the mistake). */
function keyOffset(node: unknown, path: readonly string[]): number | undefined {
  let found: number | undefined;
  let current = node;
  for (const key of path) {
    if (!isMap(current)) break;
    const pair = current.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
    if (!pair) break;
    found = (pair.key as Scalar).range?.[0] ?? found;
    current = pair.value;
  }
  return found;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)$/i;
const UNIT_BYTES: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/**
 * `settings.bodyLimit` in bytes: a whole number of bytes, or a size with a unit (b, kb, mb, gb,
 * in any case; 1 kb = 1024 bytes). Anything else is a KILN_BAD_CONFIG naming `where`, rather
 * than a limit silently left at its default.
 * @example bodyLimitBytes("1.5mb") // 1572864
 */
export function bodyLimitBytes(value: unknown, where = ""): number {
  const match = typeof value === "string" ? SIZE.exec(value.trim()) : null;
  const bytes = match
    ? Math.floor(Number(match[1]) * (UNIT_BYTES[match[2]!.toLowerCase()] ?? Number.NaN))
    : value;
  if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 1) {
    throw new KilnError(
      "KILN_BAD_CONFIG",
      `${where}settings.bodyLimit must be a number of bytes or a size with a unit, b, kb, mb or gb, such as "512kb" or "1.5mb" (got ${shown(value)})`,
    );
  }
  return bytes;
}

/** A value as a message shows it: strings quoted, and NaN not turned into null by JSON. */
function shown(value: unknown): string {
  return typeof value === "number" ? String(value) : (JSON.stringify(value) ?? String(value));
}

function isMapping(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isPrefix(value: unknown): boolean {
  return (
    typeof value === "string" && (value === "" || (value.startsWith("/") && !value.endsWith("/")))
  );
}
