import { AsyncLocalStorage } from "node:async_hooks";
import { fileURLToPath } from "node:url";
import { KilnError } from "../errors.ts";
import { hasProcessWide, processWide } from "../runtime/process-wide.ts";
import type { RequestContext } from "./context.ts";
import type { EndpointDefinition } from "./endpoint.ts";

/**
 * Process-wide state, kept on `globalThis` under a registered symbol so that two copies of the
 * kiln module (a bundler, an isolated loader, a test runner) still share one registry and one
 * AsyncLocalStorage. Without this, a server module importing `kiln` through another path would
 * register its endpoints where the app never looks, and `users.getUser()` in it would find no
 * user. Every per-request key (a Slot of RequestContext) is a string for the same reason. The
 * `.vN` in the global key is STATE_VERSION: a copy whose shared state has another shape refuses
 * to load (see checkOneStateVersion) rather than keep a registry of its own.
 */
export interface KilnGlobalState {
  /**
   * What the app folder being loaded registers, while `loadApp` imports its server modules:
   * the top-level `httpEndpoint` and `onStart` add to it, and refuse when it is null (no app
   * is loading, so there is no app they could belong to).
   */
  loading: Registrations | null;
  /** What each app folder's modules registered, so loading the same folder twice works. */
  loadedDirs: Map<string, Registrations>;
  /** The request being handled, for `request`, `cookies`, `session`, `users`, `tables`. */
  als: AsyncLocalStorage<RequestContext>;
  /** The app whose start hooks are running, for `tables` and `users` called from them. */
  starting: AsyncLocalStorage<unknown>;
}

/** The endpoints and start hooks that an app folder's server modules registered. */
export interface Registrations {
  readonly endpoints: EndpointDefinition[];
  readonly startHooks: StartHook[];
}

/** A function an app runs when it starts (see `onStart`). */
export type StartHook = () => unknown;

/**
 * The shape of the shared state (the per-request keys carry their own version, see
 * a Slot of RequestContext).
 * 2: the per-request keys became registered symbols (in 1, kiln 0.1, they were per copy).
 * 3: registration goes to the app folder being loaded (`loading`), no pending list.
 */
const STATE_VERSION = 3;

/** Which state version the first copy of kiln loaded in this process shares, and from where. */
interface LoadedCopy {
  stateVersion: number;
  location: string;
}
// Not versioned: every copy, old or new, must see it.
const COPIES = "kiln.loadedCopy";

/**
 * Two copies of kiln that share state of the same version work as one. A copy with another
 * version would keep a registry of its own: the app's modules would find no request, no session
 * and no user (an `authenticateUsers` endpoint saving rows with no owner). It refuses to load.
 */
function checkOneStateVersion(): void {
  const location = fileURLToPath(new URL("../..", import.meta.url));
  // kiln 0.1 kept state version 1, per-copy request keys, and did not announce itself. Else the
  // first copy to load announced itself (this one, if none did).
  const first: LoadedCopy = hasProcessWide("kiln.globalState.v1")
    ? { stateVersion: 1, location: "kiln 0.1 (its folder unknown)" }
    : processWide<LoadedCopy>(COPIES, () => ({ stateVersion: STATE_VERSION, location }));
  if (first.stateVersion === STATE_VERSION) return;
  throw new KilnError(
    "KILN_TWO_COPIES",
    `Two incompatible copies of kiln are loaded in one process: ${first.location} (state version ${first.stateVersion}) and ${location} (state version ${STATE_VERSION}). Install a single version (\`npm ls kilnjs\` shows where each comes from; \`npm dedupe\` or one version in package.json fixes it)`,
  );
}

checkOneStateVersion();

export const globalState: KilnGlobalState = processWide<KilnGlobalState>(
  `kiln.globalState.v${STATE_VERSION}`,
  () => ({
    loading: null,
    loadedDirs: new Map(),
    als: new AsyncLocalStorage<RequestContext>(),
    starting: new AsyncLocalStorage(),
  }),
);
