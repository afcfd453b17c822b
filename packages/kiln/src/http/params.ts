import type { RequestContext } from "./context.ts";

/**
 * The handler's keyword arguments: form fields, then query parameters, then URL parameters,
 * later winning (Anvil's order), so `/tasks/:id?id=x` gives the path's id.
 */
export function mergeParams(ctx: RequestContext): Record<string, string> {
  const merged = paramRecord<string>();
  for (const part of [ctx.formParams, ctx.queryParams, ctx.urlParams]) {
    for (const name in part) merged[name] = part[name]!;
  }
  return merged;
}

/**
 * An empty record for client-named keys. It has no prototype, so plain assignment makes an
 * own property of any name (`__proto__`, `constructor` included) and reading an absent name
 * finds nothing inherited; that costs one store per key, where `Object.defineProperty` or a
 * spread per key is several times slower on a form with many fields.
 */
export function paramRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/**
 * Query parameters as plain strings. A repeated name keeps its last value, matching the
 * "later wins" rule of the merge; the raw query string is in `request.url` for the rare API
 * that needs every value.
 */
export function flattenQuery(query: unknown): Record<string, string> {
  const flat = paramRecord<string>();
  if (!query || typeof query !== "object") return flat;
  const record = query as Record<string, unknown>;
  // for...in over own keys (the parsed query has no prototype or a plain one), not
  // Object.entries: no array of pairs per request.
  for (const name in record) {
    if (!Object.hasOwn(record, name)) continue;
    const value = record[name];
    flat[name] = Array.isArray(value) ? String(value[value.length - 1]) : String(value);
  }
  return flat;
}
