// Module hooks for the kiln CLI (registered after tsx's, so they see what tsx decided).
//
// tsx follows Node's rule for a `.ts` file: CommonJS unless the nearest package.json says
// `"type": "module"`. An app folder is just kiln.yaml + server/*.ts, often with no package.json
// at all; its modules use `import`, and loading them as CommonJS fails with an obscure
// "require() of ES Module ... in a cycle". So a TypeScript file whose package scope names no
// type at all is loaded as an ES module (what Node 22 does for such ambiguous files too); an
// explicit `"type": "commonjs"` is respected.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const TYPESCRIPT = /\.tsx?$/;

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  // Node.js 20 resolves such a file as "commonjs"; 22 and 24 (which can strip types themselves)
  // leave the format open, and it then becomes CommonJS when loaded: on 22, whose require() of
  // an ES module cannot take a module graph the CLI has already started importing, `import
  // "kilnjs"` then fails ("request for './app/create-app.js' is from a module not been linked").
  if (result.format != null && result.format !== "commonjs") return result;
  if (!result.url.startsWith("file:")) return result;
  const file = fileURLToPath(result.url);
  if (TYPESCRIPT.test(file) && packageType(dirname(file)) === undefined) {
    return { ...result, format: "module" };
  }
  return result;
}

/** The `type` of the package scope holding `dir` (the nearest package.json), or undefined. */
function packageType(dir) {
  for (;;) {
    let text;
    try {
      text = readFileSync(join(dir, "package.json"), "utf8");
    } catch {
      const parent = dirname(dir);
      if (parent === dir) return undefined;
      dir = parent;
      continue;
    }
    try {
      return JSON.parse(text).type;
    } catch {
      return undefined;
    }
  }
}
