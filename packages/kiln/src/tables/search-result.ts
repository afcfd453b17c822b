import type { RawBuilder, SqlBool } from "kysely";
import type { Media } from "../http/media.ts";
import { BlobMedia } from "../http/media.ts";
import { csvHeader, csvRow } from "./csv.ts";
import { TableError } from "./errors.ts";
import { afterClause, orderByClause, type SortKey } from "./order-by.ts";
import type { RowImpl } from "./row.ts";
import type { TableImpl } from "./table.ts";
import type { Row, SearchResult } from "./types.ts";

/**
 * Rows per query while iterating. Each page is one short synchronous step for SQLite, so the
 * event loop is never held for long, and a page of rows is all a scan keeps in memory.
 */
export const PAGE_SIZE = 500;

/** The lazy result of `search`: nothing is read until it is iterated, counted or collected. */
export class SearchResultImpl implements SearchResult {
  readonly #table: TableImpl;
  readonly #where: RawBuilder<SqlBool> | null;
  readonly #keys: readonly SortKey[];
  readonly #limit: number | undefined;
  readonly #offset: number;

  constructor(
    table: TableImpl,
    where: RawBuilder<SqlBool> | null,
    keys: readonly SortKey[],
    limit: number | undefined,
    offset: number,
  ) {
    this.#table = table;
    this.#where = where;
    this.#keys = keys;
    this.#limit = limit;
    this.#offset = offset;
  }

  count(): Promise<number> {
    return this.#table.countRows(this.#where, this.#limit, this.#offset);
  }

  get length(): Promise<number> {
    return this.count();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Row> {
    for await (const page of this.pages()) yield* page as unknown as Row[];
  }

  /** The matching rows a page at a time (keyset paging, see order-by.ts). */
  async *pages(pageSize = PAGE_SIZE): AsyncGenerator<RowImpl[]> {
    let remaining = this.#limit ?? Number.POSITIVE_INFINITY;
    let offset = this.#offset;
    let after: RawBuilder<SqlBool> | null = null;
    const order = orderByClause(this.#keys);
    while (remaining > 0) {
      const size = Math.min(pageSize, remaining);
      const conditions = [this.#where, after].filter((c) => c !== null);
      const { rows, last } = await this.#table.selectPage(conditions, order, size, offset);
      if (rows.length) yield rows;
      if (rows.length < size || !last) return;
      remaining -= rows.length;
      offset = 0;
      after = afterClause(this.#keys, last);
    }
  }

  async toArray(): Promise<Row[]> {
    const all: RowImpl[] = [];
    for await (const page of this.pages()) all.push(...page);
    return all as unknown as Row[];
  }

  /** A search is lazy, so it cannot become JSON by itself: say what to do instead of `{}`. */
  toJSON(): never {
    throw new TableError(
      "KILN_BAD_QUERY",
      `A search of ${this.#table.name} was turned into JSON as it is (it is lazy): return \`await tables.${this.#table.name}.search(...).toArray()\` instead`,
      { table: this.#table.name },
    );
  }

  async toCsv(): Promise<Media> {
    const lines = [csvHeader(this.#table.columns)];
    for await (const page of this.pages()) {
      for (const row of page) lines.push(csvRow(this.#table.columns, row));
    }
    return new BlobMedia("text/csv; charset=utf-8", lines.join(""), `${this.#table.name}.csv`);
  }
}
