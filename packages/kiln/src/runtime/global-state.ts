import { AsyncLocalStorage } from "node:async_hooks";
import type { RequestContext } from "../http/context.ts";
import type { EndpointDefinition } from "../http/endpoint.ts";

/**
 * Process-wide state, kept on `globalThis` under a registered symbol so that two copies of the
 * kiln module (a bundler, an isolated loader, a test runner) still share one registry and one
 * AsyncLocalStorage. Without this, a server module importing `kiln` through another path would
 * register its endpoints where the app never looks.
 */
export interface KilnGlobalState {
  /** Endpoints registered with the top-level `httpEndpoint` and not yet claimed by an app. */
  pending: EndpointDefinition[];
  /** The request being handled, for `request`, `cookies`, `session`, `users`. */
  als: AsyncLocalStorage<RequestContext>;
  /** The most recently created app, for `tables`/`users` used outside a request (scripts). */
  currentApp: unknown;
  /** Endpoints recorded per app folder, so loading the same folder twice in one process works. */
  loadedDirs: Map<string, EndpointDefinition[]>;
  /** Functions registered with the top-level `onStart`, not yet claimed by an app. */
  pendingStartHooks: StartHook[];
  /** Start hooks recorded per app folder, as `loadedDirs` records endpoints. */
  loadedStartHooks: Map<string, StartHook[]>;
  /** The app whose start hooks are running, for `tables` and `users` called from them. */
  starting: AsyncLocalStorage<unknown>;
}

/** A function an app runs when it starts (see `onStart`). */
export type StartHook = () => unknown;

const KEY = Symbol.for("kiln.globalState.v1");
const holder = globalThis as unknown as Record<symbol, KilnGlobalState | undefined>;

holder[KEY] ??= {
  pending: [],
  als: new AsyncLocalStorage<RequestContext>(),
  currentApp: undefined,
  loadedDirs: new Map(),
  pendingStartHooks: [],
  loadedStartHooks: new Map(),
  starting: new AsyncLocalStorage(),
};

export const globalState: KilnGlobalState = holder[KEY];
// A copy of Kiln from before start hooks may have made the state: add what it lacks.
globalState.pendingStartHooks ??= [];
globalState.loadedStartHooks ??= new Map();
globalState.starting ??= new AsyncLocalStorage();
