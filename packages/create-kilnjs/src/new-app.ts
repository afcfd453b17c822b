import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { appName, type ScaffoldVersions, scaffoldFiles } from "./scaffold.ts";

/**
 * Writes a new Kiln app into `target` (a folder that must not exist or be empty) and prints the
 * next steps; `label` prefixes error messages (`kiln new`, `create-kilnjs`). Returns the exit
 * code: 0 done, 1 when the folder is not empty (then nothing is written).
 * @example process.exitCode = writeNewApp("my-api", "create-kilnjs");
 */
export function writeNewApp(target: string, label: string): number {
  const dir = resolve(target);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    console.error(`${label}: ${target} already exists and is not empty; nothing was written`);
    return 1;
  }
  const name = appName(basename(dir));
  for (const [file, text] of Object.entries(scaffoldFiles(name, scaffoldVersions()))) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  console.log(`Created ${name} in ${dir}

Next:
  cd ${target}
  npm install
  npm run dev          # then: curl http://127.0.0.1:3000/_/api/hello`);
  return 0;
}

/**
 * The ranges a new app depends on. kilnjs and create-kilnjs are released together with the same
 * version, so this package's own major.minor is the kilnjs an app gets (`^0.2.0` from 0.2.x, so
 * a patch release of either package alone still matches). @types/node follows the Node.js
 * that runs the scaffold (what the app will most likely run on), 20 at the least.
 */
export function scaffoldVersions(): ScaffoldVersions {
  const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  const [major, minor] = String(manifest.version).split(".");
  const node = Math.max(20, Number(process.versions.node.split(".")[0]));
  return { kilnjs: `^${major}.${minor}.0`, typesNode: `^${node}.0.0` };
}
