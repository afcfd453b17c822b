import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

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
  // A path alias may name the app's own files with what looks like a package name.
  for (const config of ["tsconfig.json", "jsconfig.json"]) {
    const file = join(root, config);
    if (existsSync(file) && /"paths"\s*:/.test(readFileSync(file, "utf8"))) {
      return { uses: true, reason: `${config} has path aliases, which it does not follow` };
    }
  }
  const packages = new Map<string, string | null>();
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
      const next = follow(file, specifier, packages);
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

const NAME = "[A-Za-z_$][\\w$]*";
// An import or re-export from kilnjs. The clause holds no `; = ( )`, quote, or other import or
// export keyword, so a match never starts at an earlier statement.
const FROM_KILN =
  /\b(import|export)\s+((?:(?!\b(?:import|export)\b)[^;'"`=()])*?)\s*from\s*(["'])(kilnjs(?:\/[^"'\n]*)?)\3/g;
// What a clause may be, exactly; anything else is not understood (and counts as a use).
const IMPORT_CLAUSE = new RegExp(
  `^(type\\s+)?(?:(${NAME})\\s*(?:,\\s*)?)?(?:(\\*)\\s*as\\s+${NAME}|\\{([^{}]*)\\})?$`,
);
const EXPORT_CLAUSE = new RegExp(`^(type\\s+)?(?:(\\*)(?:\\s*as\\s+${NAME})?|\\{([^{}]*)\\})$`);
const SPECIFIER = new RegExp(`^(type\\s+)?(${NAME})(?:\\s+as\\s+${NAME})?$`);
// Every module named by a static import or re-export, or a side-effect import.
const STATIC = /\b(?:from|import)\s*(["'])([^"'\n]+)\1/g;
// `import(...)` and `require(...)`, whatever their argument.
const DYNAMIC = /\b(import|require)\s*\(\s*([^)]*)\)/g;
const LITERAL = /^(["'`])([^"'`$]+)\1$/;
const BARE_KILN = /\bimport\s*(["'])kilnjs(?:\/[^"'\n]*)?\1/g;
// Every quoted `kilnjs` (or `kilnjs/...`): each must belong to an import the scan understood.
const KILN_MENTION = /(["'`])kilnjs(?:\/[^"'`\n]*)?\1/g;
/**
 * Ways to a view no import shows: a require made under another name, and the app object a
 * handler's context carries (`ctx.app.users` knows its request only through AsyncLocalStorage).
 */
const INDIRECT: readonly [RegExp, string][] = [
  [/\bcreateRequire\b|\bmodule\s*\.\s*require\b/, "loads modules with createRequire"],
  [
    /\bKilnApp\b|\.\s*app\b|[{,]\s*app\s*[,}:]/,
    "reaches the app object (app.users knows its request only through AsyncLocalStorage)",
  ],
];

function scanSource(source: string): SourceScan {
  const code = withoutComments(source);
  const specifiers: string[] = [];
  for (const match of code.matchAll(STATIC)) {
    const specifier = match[2] ?? "";
    if (!isKiln(specifier)) specifiers.push(specifier);
  }
  for (const match of code.matchAll(DYNAMIC)) {
    const literal = LITERAL.exec((match[2] ?? "").trim());
    if (!literal) return { use: `calls ${match[1]}() with a computed module name`, specifiers };
    const specifier = literal[2] ?? "";
    if (isKiln(specifier)) return { use: `calls ${match[1]}("${specifier}")`, specifiers };
    specifiers.push(specifier);
  }
  let understood = 0;
  for (const match of code.matchAll(FROM_KILN)) {
    const [, keyword = "", clause = "", , specifier = ""] = match;
    understood++;
    if (specifier !== PACKAGE) return { use: `${keyword}s from "${specifier}"`, specifiers };
    const view = viewIn(keyword === "export", clause.trim());
    if (view) return { use: `${keyword}s ${view} from "${specifier}"`, specifiers };
  }
  understood += code.match(BARE_KILN)?.length ?? 0; // `import "kilnjs"` takes no view
  // `import { "tables" as t } from "kilnjs"`, a string naming the package: a mention the rules
  // above did not read might be a view, so it counts as one.
  const mentions = code.match(KILN_MENTION)?.length ?? 0;
  if (mentions > understood) return { use: "names kilnjs in a form it cannot read", specifiers };
  for (const [pattern, why] of INDIRECT) if (pattern.test(code)) return { use: why, specifiers };
  return { use: null, specifiers };
}

function isKiln(specifier: string): boolean {
  return specifier === PACKAGE || specifier.startsWith(`${PACKAGE}/`);
}

/**
 * The view an import (or re-export) clause from kilnjs takes, or null: `{ tables }`,
 * `{ tables as t }`, `* as kiln` and a default import do (or may); `{ type Row }`,
 * `{ httpEndpoint }` and `import type ...` do not. A clause of any other shape is not
 * understood, and counts as a use.
 */
function viewIn(isExport: boolean, clause: string): string | null {
  const match = (isExport ? EXPORT_CLAUSE : IMPORT_CLAUSE).exec(clause);
  if (!match) return `"${clause.replace(/\s+/g, " ").slice(0, 60)}" (a clause it cannot read)`;
  if (match[1]) return null; // import type / export type
  const [star, braces] = isExport ? [match[2], match[3]] : [match[3], match[4]];
  if (!isExport && match[2]) return "its default export";
  if (star) return `"${clause}" (every view)`;
  for (const part of (braces ?? "").split(",")) {
    const trimmed = part.trim();
    if (!trimmed) continue;
    const specifier = SPECIFIER.exec(trimmed);
    if (!specifier) return `"${trimmed}" (a name it cannot read)`;
    if (!specifier[1] && REQUEST_VIEWS.has(specifier[2] ?? "")) return specifier[2] as string;
  }
  return null;
}

/**
 * The source with its comments blanked (strings and template literals kept as they are), so
 * that a comment neither hides an import from the patterns nor counts as one.
 */
function withoutComments(source: string): string {
  let out = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      i = end === -1 ? source.length : end;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      out += " ";
      i = end === -1 ? source.length : end + 2;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < source.length && source[j] !== c && !(c !== "`" && source[j] === "\n")) {
        j += source[j] === "\\" ? 2 : 1;
      }
      out += source.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Where an import leads: a file of the app to read next, a use, or nothing to follow. */
function follow(
  from: string,
  specifier: string,
  packages: Map<string, string | null>,
): { file?: string; use?: string } {
  if (specifier.startsWith(".") || specifier.startsWith("/") || specifier.startsWith("file:")) {
    const path = specifier.startsWith("file:")
      ? fileURLToPath(specifier)
      : resolve(dirname(from), specifier.replace(/[?#].*$/, ""));
    if (/\.json$/.test(path)) return {};
    const file = resolveFile(path);
    return file ? { file } : { use: `imports "${specifier}", a file it cannot find` };
  }
  if (specifier.startsWith("node:") || BUILTINS.has(specifier)) return {};
  if (specifier.startsWith("#")) return { use: `imports "${specifier}" (package.json imports)` };
  const manifest = findPackage(dirname(from), packageName(specifier));
  if (!manifest) return { use: `imports "${specifier}", which is not a package it can find` };
  if (!packages.has(manifest)) packages.set(manifest, reachesKiln(manifest, new Set()));
  const why = packages.get(manifest);
  return why ? { use: `imports "${specifier}", ${why}` } : {};
}

// TypeScript's ESM style names a `.ts` file `.js` (and `.tsx` `.js` or `.jsx`, `.mts` `.mjs`,
// `.cts` `.cjs`).
const SOURCE_OF: Record<string, readonly string[]> = {
  ".js": [".ts", ".tsx"],
  ".jsx": [".tsx"],
  ".mjs": [".mts"],
  ".cjs": [".cts"],
};

/** A relative import's file: as written, its TypeScript source, with an extension, an index. */
function resolveFile(path: string): string | null {
  const candidates = [path];
  const ext = /\.[cm]?jsx?$/.exec(path)?.[0];
  for (const source of (ext && SOURCE_OF[ext]) || []) {
    candidates.push(path.slice(0, -ext!.length) + source);
  }
  for (const extension of CODE_EXTENSIONS) candidates.push(path + extension);
  for (const extension of CODE_EXTENSIONS) candidates.push(join(path, `index${extension}`));
  const main = directoryMain(path);
  if (main) candidates.push(main);
  for (const candidate of candidates) {
    if (!CODE_EXTENSIONS.some((extension) => candidate.endsWith(extension))) continue;
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

/** A folder's package.json `main` (what `require("./folder")` loads), if any. */
function directoryMain(path: string): string | null {
  const manifest = readJson(join(path, "package.json"));
  return typeof manifest?.main === "string" ? resolve(path, manifest.main) : null;
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

const DEPENDENCY_FIELDS = ["dependencies", "peerDependencies", "optionalDependencies"];

/**
 * Why an installed package may reach the request views, or null: it is kilnjs (under another
 * name), or it or any package it depends on (followed all the way down) depends on kilnjs or
 * carries its own copy; or it is linked from outside node_modules (a workspace package, the
 * app's own code, which may import kilnjs through hoisting without declaring it).
 */
function reachesKiln(manifest: string, seen: Set<string>): string | null {
  const dir = dirname(manifest);
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return "which it cannot read";
  }
  if (seen.has(real)) return null;
  seen.add(real);
  if (!real.split(sep).includes("node_modules")) return "a linked (workspace) package";
  const json = readJson(manifest);
  if (!json) return "whose package.json it cannot read";
  if (json.name === PACKAGE) return "which is kilnjs under another name";
  if (existsSync(join(dir, "node_modules", PACKAGE))) return "which carries its own kilnjs";
  const names = new Set<string>();
  for (const field of DEPENDENCY_FIELDS) {
    const deps = json[field];
    if (typeof deps === "object" && deps !== null)
      for (const name of Object.keys(deps)) names.add(name);
  }
  if (names.has(PACKAGE)) return "which depends on kilnjs";
  for (const name of names) {
    const next = findPackage(dir, name);
    if (next && reachesKiln(next, seen)) return `which depends on ${name}, which reaches kilnjs`;
  }
  return null;
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    const json: unknown = JSON.parse(readFileSync(file, "utf8"));
    return typeof json === "object" && json !== null ? (json as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
