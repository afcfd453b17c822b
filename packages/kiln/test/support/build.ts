// Vitest global setup: builds the workspace packages (kilnjs, create-kilnjs) when a source file
// is newer than the build, because the tests spawn `bin/kiln.js`, which runs dist/. Running
// `npx vitest run <file>` right after editing src therefore never tests a stale build.
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../../../..");
const PACKAGES = ["packages/create-kilnjs", "packages/kiln"]; // kiln's build reads create-kilnjs's

export default function buildIfStale(): void {
  for (const pkg of PACKAGES) {
    const dir = join(ROOT, pkg);
    const built = modified(join(dir, "dist", "index.js"));
    const sources = Math.max(
      newest(join(dir, "src")),
      modified(join(dir, "tsconfig.build.json")),
      modified(join(ROOT, "tsconfig.base.json")),
    );
    if (built >= sources) continue;
    console.error(`Building ${pkg} (its sources changed)`);
    execFileSync("npm", ["run", "build", "--silent"], { cwd: dir, stdio: "inherit" });
  }
}

/** The modification time of a file, 0 when it does not exist. */
function modified(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** The newest modification time under `dir` (folders too: deleting a file touches its folder). */
function newest(dir: string): number {
  let time = modified(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    time = Math.max(time, modified(join(entry.parentPath, entry.name)));
  }
  return time;
}
