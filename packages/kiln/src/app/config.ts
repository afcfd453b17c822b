import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import { KilnError } from "../errors.ts";

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
  const where = (path: string[]) => {
    const node = doc.getIn(path, true) as { range?: [number, number] } | undefined;
    const pos = node?.range ? lineCounter.linePos(node.range[0]) : undefined;
    return pos ? `${file}:${pos.line}` : file;
  };
  if (typeof value !== "object" || Array.isArray(value) || value === null) {
    throw new KilnError("KILN_BAD_CONFIG", `${file}: expected a mapping (name: ..., tables: ...)`);
  }
  const config = value as Record<string, unknown>;
  if (config.name !== undefined && typeof config.name !== "string") {
    throw new KilnError("KILN_BAD_CONFIG", `${where(["name"])}: name must be a string`);
  }
  for (const key of ["api", "tables", "services", "settings", "endpoints"]) {
    const section = config[key];
    if (section !== undefined && section !== null && !isMapping(section)) {
      throw new KilnError("KILN_BAD_CONFIG", `${where([key])}: ${key} must be a mapping`);
    }
  }
  const prefix = (config.api as { prefix?: unknown } | undefined)?.prefix;
  if (prefix !== undefined && prefix !== null && !isPrefix(prefix)) {
    throw new KilnError(
      "KILN_BAD_CONFIG",
      `${where(["api", "prefix"])}: api.prefix must be "" or start with "/" (got ${JSON.stringify(prefix)})`,
    );
  }
  const bodyLimit = (config.settings as { bodyLimit?: unknown } | undefined)?.bodyLimit;
  if (bodyLimit !== undefined && bodyLimit !== null) {
    bodyLimitBytes(bodyLimit, `${where(["settings", "bodyLimit"])}: `);
  }
  return { name: "kiln-app", ...config } as KilnYaml;
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
