/**
 * `globalThis` seen as what these helpers use it for: values under registered symbols. Every
 * copy of kiln loaded in one process (a bundler, an isolated loader, a test runner, two
 * versions in node_modules) reaches the same `globalThis` and the same `Symbol.for` symbols.
 */
const shared: { [key: symbol]: unknown } = globalThis;

/**
 * The value shared by every copy of kiln in this process under `Symbol.for(key)`: made by
 * `make` in the first copy that asks, and found there by every other one. A key names one shape
 * of value for good (a new shape takes a new key: hence the `.vN` most keys end in), so the value
 * under it is a T, whichever copy made it.
 */
export function processWide<T>(key: string, make: () => T): T {
  const symbol = Symbol.for(key);
  const found = shared[symbol];
  // The one place that trusts a key for its type: the value came from another copy of kiln
  // (another module instance), where no type information reaches, under a key naming a T.
  if (found !== undefined) return found as T;
  const made = make();
  shared[symbol] = made;
  return made;
}

/** True when some copy of kiln keeps a value under `Symbol.for(key)` (see processWide). */
export function hasProcessWide(key: string): boolean {
  return shared[Symbol.for(key)] !== undefined;
}
