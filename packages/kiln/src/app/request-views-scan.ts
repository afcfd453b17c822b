import { existsSync, lstatSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";

/**
 * The exports of kilnjs that act on "the request being handled" without being handed it: they
 * find it through AsyncLocalStorage, which every request then has to enter. On Node.js 20 and
 * 22 that turns on async hooks for the whole process, a cost every promise and socket write
 * pays (about a tenth of a small request). An app whose code never imports them gets
 * everything through its handlers' context instead, and skips it.
 */
export const REQUEST_VIEWS: ReadonlySet<string> = new Set([
  "request",
  "session",
  "cookies",
  "users",
  "tables",
  "inTransaction",
]);

/** Whether an app's code may use the request views, and if so the first place found. */
export interface ViewsScan {
  uses: boolean;
  /** Where (file, and what), for the debug log: "server/tasks.ts imports tables". */
  reason: string | null;
}

const CODE_EXTENSIONS = [".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs", ".jsx"];
const BUILTINS = new Set(builtinModules);
const PACKAGE = "kilnjs";

/**
 * Reads an app's server modules and every module they import from the app's own files
 * (relative imports, followed), and answers whether any of them may reach a request view.
 * It errs one way only: anything it cannot read for sure counts as a use (an `import()` or
 * `require` of something computed, a specifier it cannot resolve such as a tsconfig path
 * alias, `import * as kiln`, a package that depends on kilnjs itself). So an app is only
 * ever run without AsyncLocalStorage when no code of it can reach a view.
 */
export function scanRequestViews(root: string, serverModules: readonly string[]): ViewsScan {
  const seen = new Set<string>();
  const queue = [...serverModules];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (seen.has(file)) continue;
    seen.add(file);
    let source: string;
    try {
      source = readFileSync(file, "utf8");
    } catch {
      return { uses: true, reason: `${relative(root, file)} could not be read` };
    }
    const found = scanSource(source);
    if (found.use) return { uses: true, reason: `${relative(root, file)} ${found.use}` };
    for (const specifier of found.specifiers) {
      const next = follow(file, specifier);
      if (next.use) return { uses: true, reason: `${relative(root, file)} ${next.use}` };
      if (next.file) queue.push(next.file);
    }
  }
  return { uses: false, reason: null };
}

interface SourceScan {
  /** Why this module counts as using a view, or null. */
  use: string | null;
  /** The other modules it imports (static and literal dynamic), kilnjs excepted. */
  specifiers: string[];
}

// `import ... from "x"` / `export ... from "x"`: the clause may span lines; it holds none of
// `; = ( )` or quotes, so a match never starts at an earlier statement (`export type A = B`).
const FROM = /\b(import|export)(\s+type)?\s+([^;'"`=()]*?)\s*from\s*(["'])([^"'\n]+)\4/g;
// `import "x"` (side effects only).
const BARE_IMPORT = /\bimport\s*(["'])([^"'\n]+)\1/g;
// `import(...)` and `require(...)`, whatever their argument.
const DYNAMIC = /\b(import|require)\s*\(\s*([^)]*)\)/g;
const LITERAL = /^(["'`])([^"'`$]+)\1$/;

// Every quoted `kilnjs` (or `kilnjs/...`): each must belong to an import the scan understood.
const KILN_MENTION = /(["'`])kilnjs(?:\/[^"'`\n]*)?\1/g;

function scanSource(source: string): SourceScan {
  const specifiers: string[] = [];
  let understood = 0;
  for (const match of source.matchAll(FROM)) {
    const [, keyword, typeOnly, clause = "", , specifier = ""] = match;
    if (!isKiln(specifier)) {
      if (!typeOnly) specifiers.push(specifier);
      continue;
    }
    understood++;
    if (typeOnly) continue;
    if (specifier !== PACKAGE) return { use: `${keyword}s from "${specifier}"`, specifiers };
    const view = viewIn(keyword === "export", clause);
    if (view) return { use: `${keyword}s ${view} from "${specifier}"`, specifiers };
  }
  for (const match of source.matchAll(BARE_IMPORT)) {
    const specifier = match[2] ?? "";
    if (isKiln(specifier)) understood++;
    else specifiers.push(specifier);
  }
  for (const match of source.matchAll(DYNAMIC)) {
    const literal = LITERAL.exec((match[2] ?? "").trim());
    if (!literal) return { use: `calls ${match[1]}() with a computed module name`, specifiers };
    const specifier = literal[2] ?? "";
    if (isKiln(specifier)) return { use: `calls ${match[1]}("${specifier}")`, specifiers };
    specifiers.push(specifier);
  }
  // `import { "tables" as t } from "kilnjs"`, a re-export it did not parse, a string naming the
  // package: a mention no rule above read might be a view, so it counts as one.
  const mentions = source.match(KILN_MENTION)?.length ?? 0;
  if (mentions > understood) return { use: "names kilnjs in a form it cannot read", specifiers };
  return { use: null, specifiers };
}

function isKiln(specifier: string): boolean {
  return specifier === PACKAGE || specifier.startsWith(`${PACKAGE}/`);
}

/**
 * The view an import (or re-export) clause from kilnjs takes, or null: `{ tables }`,
 * `{ tables as t }` and `* as kiln` (every view) do; `{ type Row }`, `{ httpEndpoint }` do not.
 */
function viewIn(isExport: boolean, clause: string): string | null {
  const braces = clause.indexOf("{");
  const outside = braces === -1 ? clause : clause.slice(0, braces);
  // `* as kiln`, `export *`, or a default import beside or instead of the braces.
  if (outside.includes("*")) return `"${outside.trim()}" (every view)`;
  if (!isExport && outside.replace(",", "").trim() !== "") return `its default export`;
  if (braces === -1) return null;
  const inside = clause.slice(braces + 1, clause.lastIndexOf("}"));
  for (const part of inside.split(",")) {
    const words = part.trim().split(/\s+/);
    if (words[0] === "type") continue;
    const name = words[0] ?? "";
    if (REQUEST_VIEWS.has(name)) return name;
  }
  return null;
}

/** Where an import leads: a file of the app to read next, a use, or nothing to follow. */
function follow(from: string, specifier: string): { file?: string; use?: string } {
  if (specifier.startsWith(".") || specifier.startsWith("/")) {
    const file = resolveFile(resolve(dirname(from), specifier));
    // A JSON module, or one that does not exist (the import itself then fails to load).
    return file ? { file } : {};
  }
  if (specifier.startsWith("node:") || BUILTINS.has(specifier)) return {};
  const name = packageName(specifier);
  const manifest = findPackage(dirname(from), name);
  if (!manifest) return { use: `imports "${specifier}", which is not a package it can find` };
  if (dependsOnKiln(manifest)) return { use: `imports "${specifier}", which depends on kilnjs` };
  // A workspace or `npm link`ed package is the app's own code, and may import kilnjs through
  // the workspace's hoisting without declaring it: not read here, so counted as a use.
  if (lstatSync(dirname(manifest)).isSymbolicLink()) {
    return { use: `imports "${specifier}", a linked (workspace) package` };
  }
  return {};
}

/** A relative import's file: as written, or TypeScript's `.js` for `.ts`, or an index. */
function resolveFile(path: string): string | null {
  const candidates = [path];
  const js = /\.(m?)js$/.exec(path);
  if (js) candidates.push(path.replace(/\.(m?)js$/, `.${js[1]}ts`));
  for (const ext of CODE_EXTENSIONS) candidates.push(path + ext);
  for (const ext of CODE_EXTENSIONS) candidates.push(join(path, `index${ext}`));
  for (const candidate of candidates) {
    if (!CODE_EXTENSIONS.some((ext) => candidate.endsWith(ext))) continue;
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

/** The package.json Node would load `name` from, looking up from `dir`. */
function findPackage(dir: string, name: string): string | null {
  for (let at = dir; ; at = dirname(at)) {
    const manifest = join(at, "node_modules", name, "package.json");
    if (existsSync(manifest)) return manifest;
    if (dirname(at) === at) return null;
  }
}

function dependsOnKiln(manifest: string): boolean {
  try {
    const json = JSON.parse(readFileSync(manifest, "utf8")) as Record<string, unknown>;
    return ["dependencies", "peerDependencies", "optionalDependencies"].some(
      (field) => typeof json[field] === "object" && json[field] !== null && PACKAGE in json[field],
    );
  } catch {
    return true;
  }
}
