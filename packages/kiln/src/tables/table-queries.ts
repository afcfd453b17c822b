import type { CompiledQuery, QueryResult, RawBuilder } from "kysely";
import { TableError } from "./errors.ts";
import type { TableImpl, TablesContext } from "./table.ts";

/** Compiled queries kept per table; past this (searches of ever new shapes) the cache starts over. */
const MAX_COMPILED = 1000;

/** A value now, or later: the hot paths skip a promise when the database answers at once. */
export type Maybe<T> = T | Promise<T>;

/**
 * How a table runs its SQL: each shape of query compiled once and rerun with new parameters,
 * synchronously when the dialect can, database errors mapped to KilnErrors. Shared by the
 * table and its helpers (writes, links), so they all use the one cache per table.
 */
export class TableQueries {
  readonly #context: TablesContext;
  readonly #table: TableImpl;
  readonly #compiled = new Map<string, CompiledQuery>();

  constructor(context: TablesContext, table: TableImpl) {
    this.#context = context;
    this.#table = table;
  }

  get db() {
    return this.#context.dialect.db;
  }

  /** Raw SQL in the form compile takes. */
  raw(query: RawBuilder<unknown>): { compile(): CompiledQuery } {
    return { compile: () => query.compile(this.db) };
  }

  compile(key: string, build: () => { compile(): CompiledQuery }): CompiledQuery {
    let compiled = this.#compiled.get(key);
    if (!compiled) {
      compiled = build().compile();
      if (this.#compiled.size >= MAX_COMPILED) this.#compiled.clear();
      this.#compiled.set(key, compiled);
    }
    return compiled;
  }

  /**
   * Runs a query compiled once, with new parameters: synchronously when the dialect can
   * (SQLite with the connection free), which is most of the hot paths' speed.
   */
  run(
    compiled: CompiledQuery,
    parameters: readonly unknown[],
    rowsAsArrays = false,
  ): Maybe<QueryResult<unknown>> {
    // A literal, not a spread: one shape, and no copying loop, on every hot query.
    const { query, queryId, sql } = compiled;
    return this.execute({ query, queryId, sql, parameters }, rowsAsArrays);
  }

  /** Runs a query; `rowsAsArrays` asks for array rows when it runs at once (executeNow). */
  execute(query: CompiledQuery, rowsAsArrays = false): Maybe<QueryResult<unknown>> {
    const dialect = this.#context.dialect;
    if (query.parameters.length > dialect.maxParameters) {
      throw new TableError(
        "KILN_QUERY_TOO_LARGE",
        `A query on ${this.#table.name} is too large for the database: ${query.parameters.length} values, where ${dialect.name} takes at most ${dialect.maxParameters} (fewer conditions, or several searches)`,
        { table: this.#table.name },
      );
    }
    try {
      const now = dialect.executeNow(query, rowsAsArrays);
      if (now) return now;
    } catch (error) {
      throw this.#context.mapError(error, this.#table);
    }
    return dialect.execute(query).catch((error: unknown) => {
      throw this.#context.mapError(error, this.#table);
    });
  }

  async rows(query: CompiledQuery): Promise<Record<string, unknown>[]> {
    return (await this.execute(query)).rows as Record<string, unknown>[];
  }
}
