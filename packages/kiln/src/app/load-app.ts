import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { KilnError } from "../errors.ts";
import { globalState, type Registrations } from "../http/global-state.ts";
import { readKilnYaml } from "./config.ts";
import { type AppConfig, createApp, type KilnApp } from "./create-app.ts";
import { scanRequestViews, type ViewsScan } from "./request-views-scan.ts";

const MODULE = /\.(ts|mts|js|mjs)$/;
const SKIPPED = /\.(d|test|spec)\.[mc]?[tj]s$/;

/**
 * Loads an app folder: `kiln.yaml`, then every module under `server/` (sorted, so the order is
 * the same on every machine), whose `httpEndpoint` calls register the endpoints. TypeScript
 * modules need a TypeScript-aware loader: the `kiln` CLI installs tsx; Vitest has its own.
 * @example const app = await loadApp("examples/todo", { dataDir: tmp });
 */
export async function loadApp(dir: string, overrides: AppConfig = {}): Promise<KilnApp> {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new KilnError("KILN_APP_NOT_FOUND", `App folder not found: ${dir}`);
  }
  const yaml = readKilnYaml(join(root, "kiln.yaml"));
  const registrations = await importServerModules(root);
  const { endpoints, startHooks } = registrations;
  // The app gets copies: `app.httpEndpoint` on it must not add to what the folder registered.
  const app = createApp({ ...yaml, dir: root, ...overrides });
  app.setViewsScan(viewsOf(root, registrations));
  app.addEndpoints(endpoints);
  app.addStartHooks(startHooks);
  return app;
}

/** Server module files of an app, sorted. */
export function serverModules(root: string): string[] {
  const serverDir = join(root, "server");
  if (!existsSync(serverDir)) return [];
  return (readdirSync(serverDir, { recursive: true }) as string[])
    .filter((file) => MODULE.test(file) && !SKIPPED.test(file) && !file.includes("node_modules"))
    .sort()
    .map((file) => join(serverDir, file));
}

/**
 * What `scanRequestViews` read in the modules a folder's record came from, read once when they
 * were imported: a folder loaded again reuses its modules, and so what they import. A record
 * made by another copy of kiln (they share loadedDirs) is read here the first time it is used.
 */
const viewScans = new WeakMap<Registrations, ViewsScan>();

function viewsOf(root: string, registrations: Registrations): ViewsScan {
  let scan = viewScans.get(registrations);
  if (!scan) {
    scan = scanRequestViews(root, serverModules(root));
    viewScans.set(registrations, scan);
  }
  return scan;
}

/** Loads run one at a time: each one's imports register into its own folder's record. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Imports the server modules of `root` with its record as the registration target (see
 * KilnGlobalState.loading), and returns what they registered.
 */
function importServerModules(root: string): Promise<Registrations> {
  const loaded = queue.then(() => importNow(root));
  queue = loaded.catch(() => undefined);
  return loaded;
}

async function importNow(root: string): Promise<Registrations> {
  // A folder already imported in this process is not imported again (modules are cached and
  // would not register twice); what it registered is reused.
  const known = globalState.loadedDirs.get(root);
  if (known) return known;
  const registrations: Registrations = { endpoints: [], startHooks: [] };
  const before = globalState.loading;
  globalState.loading = registrations;
  try {
    const files = serverModules(root);
    for (const file of files) {
      try {
        await import(pathToFileURL(file).href);
      } catch (error) {
        throw new KilnError(
          "KILN_MODULE_LOAD_FAILED",
          `Could not load ${file}: ${(error as Error)?.message ?? String(error)}`,
          { cause: error },
        );
      }
    }
    viewScans.set(registrations, scanRequestViews(root, files));
    // Only a complete load is remembered: a failed one is tried again (and fails clearly).
    globalState.loadedDirs.set(root, registrations);
    return registrations;
  } finally {
    globalState.loading = before;
  }
}
