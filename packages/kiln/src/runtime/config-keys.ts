import { ConfigError } from "../errors.ts";

/**
 * The keys a part of kiln.yaml may hold: `true` for a leaf (any value, checked by its reader),
 * a nested tree for a mapping, and `"*"` for keys the app names itself (tables, columns).
 */
export type KeyTree = { readonly [key: string]: KeyTree | true };

/**
 * Refuses every key of `value` that `tree` does not know, naming the closest known one: a
 * misspelled security setting (`setings:`, `trustproxy`) must stop the app, not be ignored.
 * The error carries the key's path, so that the loader can name its line.
 * @example checkKeys({ setings: {} }, { settings: { trustProxy: true } })
 * // throws: unknown key "setings" (did you mean "settings"?)
 */
export function checkKeys(value: unknown, tree: KeyTree, root: KeyTree = tree): void {
  walk(value, tree, [], root);
}

function walk(value: unknown, tree: KeyTree, path: string[], root: KeyTree): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const known = tree[key] ?? tree["*"];
    if (known === undefined) {
      const where = [...path, key];
      throw new ConfigError(where, `${where.join(".")}: unknown key${hint(key, tree, path, root)}`);
    }
    if (known !== true) walk(child, known, [...path, key], root);
  }
}

/** ` (did you mean "settings"?)`, or the keys that would fit here. */
function hint(key: string, tree: KeyTree, path: string[], root: KeyTree): string {
  const here = Object.keys(tree).filter((k) => k !== "*");
  const near = closest(key, here);
  if (near) return ` (did you mean "${near}"?)`;
  // A known key in the wrong place (`trustProxy` at the top instead of under `settings`).
  const elsewhere = closest(
    key,
    allPaths(root).map((p) => p.at(-1)!),
  );
  if (elsewhere) {
    const full = allPaths(root).find((p) => p.at(-1) === elsewhere)!;
    if (full.join(".") !== [...path, elsewhere].join(".")) {
      return ` (did you mean ${full.join(".")}?)`;
    }
  }
  return here.length > 0 ? ` (known here: ${here.join(", ")})` : "";
}

function allPaths(tree: KeyTree, prefix: string[] = []): string[][] {
  return Object.entries(tree).flatMap(([key, child]) =>
    key === "*"
      ? []
      : [[...prefix, key], ...(child === true ? [] : allPaths(child, [...prefix, key]))],
  );
}

/**
 * The candidate nearest to `key`, ignoring case, when it is near enough to be a typo: at most
 * one edit for short names, two from 6 characters, three from 12.
 */
export function closest(key: string, candidates: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  const allowed = lower.length >= 12 ? 3 : lower.length >= 6 ? 2 : 1;
  return bestDistance <= allowed ? best : undefined;
}

/** Levenshtein distance (insert, delete, replace), one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const replace = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, replace);
    }
    previous = row;
  }
  return previous[b.length]!;
}
