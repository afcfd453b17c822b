/*
 * The capability folders of src/ (runtime, http, tables, cookies, users, app, cli) depend on
 * each other in one direction only: no chain of imports, type-only ones included, leads from a
 * folder back to itself. A cycle is what made the parts hard to change one at a time.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../src");

/** The folder of a file under src/, or null for the top level (index.ts, errors.ts). */
function folderOf(file: string): string | null {
  const parts = relative(SRC, file).split("/");
  return parts.length > 1 ? parts[0]! : null;
}

/** Folder → folder → one import that makes the edge ("a/x.ts imports b/y.ts"). */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  const files = readdirSync(SRC, { recursive: true, encoding: "utf8" }).filter((f) =>
    f.endsWith(".ts"),
  );
  // `import ... from "./x.ts"`, `export ... from "../y.ts"`, `import("../z.ts")`, over lines.
  const specifier =
    /(?:^\s*(?:import|export)\b[^;]*?\bfrom\s*|\bimport\s*\(\s*)["'](\.[^"']+)["']/gm;
  for (const name of files) {
    const file = join(SRC, name);
    const from = folderOf(file);
    if (from === null) continue;
    for (const [, spec] of readFileSync(file, "utf8").matchAll(specifier)) {
      const target = resolve(dirname(file), spec!);
      const to = folderOf(target);
      if (to === null || to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, `${relative(SRC, file)} imports ${relative(SRC, target)}`);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** Every elementary cycle's folders, once each (found by a depth-first walk from each folder). */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const found = new Map<string, string[]>();
  const walk = (path: string[]) => {
    const last = path.at(-1)!;
    for (const next of graph.get(last)?.keys() ?? []) {
      if (next === path[0]) {
        const key = [...path].sort().join(",");
        if (!found.has(key)) found.set(key, [...path, next]);
      } else if (!path.includes(next)) {
        walk([...path, next]);
      }
    }
  };
  for (const start of graph.keys()) walk([start]);
  return [...found.values()];
}

describe("the import graph of src/", () => {
  it("has no cycle between capability folders", () => {
    const graph = folderGraph();
    // The walk did find the folders and their imports.
    expect(graph.get("app")?.has("tables")).toBe(true);
    expect(graph.get("users")?.has("cookies")).toBe(true);
    const described = cycles(graph).map((cycle) =>
      cycle
        .slice(1)
        .map((to, i) => `${cycle[i]} -> ${to} (${graph.get(cycle[i]!)!.get(to)})`)
        .join("\n  "),
    );
    expect(described, `import cycles:\n${described.join("\n\n")}`).toEqual([]);
  });
});
