import type { RequestContext } from "./context.ts";

/**
 * The handler's keyword arguments: form fields, then query parameters, then URL parameters,
 * later winning (Anvil's order), so `/tasks/:id?id=x` gives the path's id.
 */
export function mergeParams(ctx: RequestContext): Record<string, string> {
  // Spread, not Object.assign: assignment would run the `__proto__` setter and drop a
  // parameter of that name (or, for an object value, swap the prototype).
  return { ...ctx.formParams, ...ctx.queryParams, ...ctx.urlParams };
}

/** Sets a client-named key as an own property, even when the name is `__proto__`. */
export function setParam<T>(record: Record<string, T>, name: string, value: T): void {
  Object.defineProperty(record, name, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/**
 * Query parameters as plain strings. A repeated name keeps its last value, matching the
 * "later wins" rule of the merge; the raw query string is in `request.url` for the rare API
 * that needs every value.
 */
export function flattenQuery(query: unknown): Record<string, string> {
  const flat: Record<string, string> = {};
  if (!query || typeof query !== "object") return flat;
  for (const [name, value] of Object.entries(query as Record<string, unknown>)) {
    setParam(flat, name, Array.isArray(value) ? String(value[value.length - 1]) : String(value));
  }
  return flat;
}
