import { type QueryResult, sql } from "kysely";
import type { Dialect } from "./dialect.ts";
import { type SearchFilter, shapeCondition } from "./filters.ts";
import type { LinkLoader } from "./link-loading.ts";
import { physicalTable } from "./names.ts";
import { afterClause, orderByClause, type SortKey, sortKeysKey } from "./order-by.ts";
import type { RowImpl } from "./row.ts";
import type { RowMaker } from "./row-maker.ts";
import { rowRef } from "./row-ref.ts";
import type { TableImpl } from "./table.ts";
import type { Maybe, TableQueries } from "./table-queries.ts";

/** Rows fetched per `id IN (...)` query when following links. */
const IDS_PER_QUERY = 500;
/** Past the end of any table: OFFSET without LIMIT is not valid SQLite. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * The reads of many rows of one table: a search's pages and counts, and rows by a list of ids
 * (another table's links). Made once per table, sharing its compiled queries.
 */
export class TableReads {
  readonly #table: TableImpl;
  readonly #queries: TableQueries;
  readonly #dialect: Dialect;
  readonly #maker: RowMaker;
  readonly #loader: LinkLoader;
  readonly #physical: string;
  /** The columns a query of this table selects, id first. */
  readonly #selected: readonly string[];

  constructor(
    table: TableImpl,
    queries: TableQueries,
    dialect: Dialect,
    maker: RowMaker,
    loader: LinkLoader,
  ) {
    this.#table = table;
    this.#queries = queries;
    this.#dialect = dialect;
    this.#maker = maker;
    this.#loader = loader;
    this.#physical = physicalTable(table.name);
    this.#selected = table.selectedColumns;
  }

  /**
   * One page of a search: rows, and the database values of the last one (for the next page).
   * The first page of a search by equalities (see SearchFilter.shape) runs SQL compiled once
   * per shape, synchronously when the dialect can: a repeated search builds no query at all.
   */
  page(
    filter: SearchFilter,
    keys: readonly SortKey[],
    after: Record<string, unknown> | null,
    size: number,
    offset: number,
  ): Maybe<{ rows: RowImpl[]; last: Record<string, unknown> | null }> {
    let run: Maybe<QueryResult<unknown>>;
    const shape = filter.shape;
    const dialect = this.#dialect;
    if (shape && !after) {
      const compiled = this.#queries.compile(
        `page:${shape.key}:${sortKeysKey(keys)}:${offset ? "offset" : ""}`,
        () => {
          const where = shapeCondition(this.#table, shape.names);
          let query = this.#queries.db.selectFrom(this.#physical).select(this.#selected);
          if (where) query = query.where(where);
          query = query.orderBy(orderByClause(keys)).limit(dialect.rowCount(-1));
          return offset ? query.offset(dialect.rowCount(-2)) : query;
        },
      );
      const params = [...shape.params, size];
      if (offset) params.push(offset);
      run = this.#queries.run(compiled, params, true);
    } else {
      let query = this.#queries.db.selectFrom(this.#physical).select(this.#selected);
      if (filter.condition) query = query.where(filter.condition);
      if (after) query = query.where(afterClause(keys, after));
      query = query.orderBy(orderByClause(keys)).limit(dialect.rowCount(size));
      if (offset) query = query.offset(dialect.rowCount(offset));
      run = this.#queries.execute(query.compile());
    }
    const page = (result: QueryResult<unknown>) => {
      // Arrays when SQLite ran the query at once (see Dialect.executeNow), else objects.
      const raws = result.rows as (Record<string, unknown> | unknown[])[];
      const made = raws.map((raw) =>
        Array.isArray(raw) ? this.#maker.fromDbArray(raw) : this.#maker.fromDb(raw),
      );
      const lastRaw = raws[raws.length - 1];
      const last = Array.isArray(lastRaw) ? this.#named(lastRaw) : (lastRaw ?? null);
      const rows = this.#loader.linked(made, filter.linkRows);
      return rows instanceof Promise ? rows.then((r) => ({ rows: r, last })) : { rows, last };
    };
    return run instanceof Promise ? run.then(page) : page(run);
  }

  /**
   * The number of rows the filter matches (within limit and offset, if given). A count by
   * equalities without paging runs SQL compiled once per shape, as selectPage does.
   */
  async count(filter: SearchFilter, limit?: number, offset = 0): Promise<number> {
    const shape = filter.shape;
    if (shape && limit === undefined && !offset) {
      const compiled = this.#queries.compile(`count:${shape.key}`, () => {
        const where = shapeCondition(this.#table, shape.names);
        const query = this.#queries.db
          .selectFrom(this.#physical)
          .select(sql<number>`count(*)`.as("n"));
        return where ? query.where(where) : query;
      });
      const run = this.#queries.run(compiled, shape.params);
      const result = run instanceof Promise ? await run : run;
      return Number((result.rows[0] as { n: unknown } | undefined)?.n ?? 0);
    }
    const where = filter.condition;
    let inner = this.#queries.db.selectFrom(this.#physical).select("id");
    if (where) inner = inner.where(where);
    const query =
      limit === undefined && !offset
        ? this.#queries.db.selectFrom(this.#physical).$call((q) => (where ? q.where(where) : q))
        : this.#queries.db.selectFrom(
            inner
              .limit(this.#dialect.rowCount(limit ?? NO_LIMIT))
              .offset(this.#dialect.rowCount(offset))
              .as("matching"),
          );
    const rows = await this.#queries.rows(query.select(sql<number>`count(*)`.as("n")).compile());
    return Number(rows[0]?.n ?? 0);
  }

  /** Rows of this table by id; their own links are left as unloaded rows. */
  async byIds(ids: readonly number[]): Promise<Map<number, RowImpl>> {
    const found = new Map<number, RowImpl>();
    const dialect = this.#dialect;
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      const chunk = ids.slice(i, i + IDS_PER_QUERY);
      // The ids are one parameter (Dialect.listParam): one statement for any number of them.
      const compiled = this.#queries.compile("byIds", () =>
        this.#queries.db
          .selectFrom(this.#physical)
          .select(this.#selected)
          .where(dialect.inList(sql.ref("id"), "id", [])),
      );
      const run = this.#queries.run(compiled, [dialect.listParam(chunk)]);
      const result = run instanceof Promise ? await run : run;
      const rows = (result.rows as Record<string, unknown>[]).map((raw) => this.#maker.fromDb(raw));
      if (this.#loader.hasLists && rows.length) await this.#loader.loadLists(rows);
      for (const row of rows) {
        this.#maker.stubLinks(row);
        found.set(rowRef(row)!.rowId, row);
      }
    }
    return found;
  }

  /** Which of these row numbers are rows of this table (a CSV import's links are checked). */
  async existingIds(ids: readonly number[]): Promise<Set<number>> {
    const found = new Set<number>();
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      const chunk = ids.slice(i, i + IDS_PER_QUERY);
      const compiled = this.#queries.compile(`idsExist:${chunk.length}`, () =>
        this.#queries.db
          .selectFrom(this.#physical)
          .select("id")
          .where(
            "id",
            "in",
            chunk.map(() => 0),
          ),
      );
      const run = this.#queries.run(compiled, chunk);
      const result = run instanceof Promise ? await run : run;
      for (const raw of result.rows as { id: unknown }[]) found.add(Number(raw.id));
    }
    return found;
  }

  /** The database values of a row given as an array, by column name. */
  #named(raw: readonly unknown[]): Record<string, unknown> {
    const named: Record<string, unknown> = {};
    for (let i = 0; i < this.#selected.length; i++) named[this.#selected[i]!] = raw[i];
    return named;
  }
}
