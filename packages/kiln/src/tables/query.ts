const QUERY = Symbol.for("kiln.Query");

/** The query operators of `q`, by name. */
export type QueryOperator =
  | "like"
  | "ilike"
  | "greaterThan"
  | "lessThan"
  | "greaterThanOrEqualTo"
  | "lessThanOrEqualTo"
  | "between"
  | "anyOf"
  | "allOf"
  | "noneOf"
  | "not"
  | "fullTextMatch";

/** A query operator applied to its arguments: the value of a filter, built with `q`. */
export class Query {
  readonly [QUERY] = true;
  readonly operator: QueryOperator;
  readonly args: readonly unknown[];
  constructor(operator: QueryOperator, args: readonly unknown[]) {
    this.operator = operator;
    this.args = args;
  }
}

/** True for a Query, even one made by another copy of the kiln module. */
export function isQuery(value: unknown): value is Query {
  return typeof value === "object" && value !== null && QUERY in value;
}

/**
 * Query operators for `search` and `get` filters, with the meanings of Anvil's `q`.
 * @example
 * tables.tasks.search({
 *   title: q.ilike("%report%"),
 *   due: q.between("2025-01-01", "2025-02-01"),
 *   priority: q.anyOf(1, 2),
 * });
 */
export const q = {
  /** SQL LIKE, case-sensitive on every backend: `%` any text, `_` one character, `\` escapes. */
  like: (pattern: string) => new Query("like", [pattern]),
  /** Like `like`, ignoring case. */
  ilike: (pattern: string) => new Query("ilike", [pattern]),
  greaterThan: (value: unknown) => new Query("greaterThan", [value]),
  lessThan: (value: unknown) => new Query("lessThan", [value]),
  greaterThanOrEqualTo: (value: unknown) => new Query("greaterThanOrEqualTo", [value]),
  lessThanOrEqualTo: (value: unknown) => new Query("lessThanOrEqualTo", [value]),
  /** `min <= value < max` by default; each end's inclusiveness can be chosen. */
  between: (min: unknown, max: unknown, minInclusive = true, maxInclusive = false) =>
    new Query("between", [min, max, minInclusive, maxInclusive]),
  /**
   * Equal to any of the values; given queries (or filter objects), matches when any of them
   * does (OR).
   */
  anyOf: (...values: unknown[]) => new Query("anyOf", values),
  /** Matches when all the queries (or values) match (AND). */
  allOf: (...values: unknown[]) => new Query("allOf", values),
  /** Equal to none of the values (null matches); given queries, matches when none does. */
  noneOf: (...values: unknown[]) => new Query("noneOf", values),
  /** Matches when the value or query does not (a null column matches `q.not(x)`). */
  not: (value: unknown) => new Query("not", [value]),
  /**
   * Every word of `text` appears in the column, ignoring case (no stemming). At most 64
   * words: more is KILN_QUERY_TOO_LARGE (a 400 inside an endpoint).
   */
  fullTextMatch: (text: string) => new Query("fullTextMatch", [text]),
} as const;
