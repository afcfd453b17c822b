import type { Media } from "../http/media.ts";
import { BlobMedia } from "../http/media.ts";
import { type CsvOptions, csvHeader, csvRow } from "./csv.ts";
import { TableError } from "./errors.ts";
import type { SearchFilter } from "./filters.ts";
import type { SortKey } from "./order-by.ts";
import type { RowImpl } from "./row.ts";
import type { TableImpl } from "./table.ts";
import type { Row, SearchResult } from "./types.ts";

/**
 * Rows per query while iterating. Each page is one short synchronous step for SQLite, so the
 * event loop is never held for long, and a page of rows is all a scan keeps in memory.
 */
export const PAGE_SIZE = 500;

/** One page of rows, and where the search stands after it. */
interface Page {
  readonly rows: RowImpl[];
  /** The database values of the last row (the next page starts after it), or null. */
  readonly last: Record<string, unknown> | null;
  /** The page's size: fewer rows than this means there is no next page. */
  readonly size: number;
  /** Rows the search may still give, this page's included. */
  readonly remaining: number;
}

/** The lazy result of `search`: nothing is read until it is iterated, counted or collected. */
export class SearchResultImpl implements SearchResult {
  readonly #table: TableImpl;
  readonly #filter: SearchFilter;
  readonly #keys: readonly SortKey[];
  readonly #limit: number | undefined;
  readonly #offset: number;

  constructor(
    table: TableImpl,
    filter: SearchFilter,
    keys: readonly SortKey[],
    limit: number | undefined,
    offset: number,
  ) {
    this.#table = table;
    this.#filter = filter;
    this.#keys = keys;
    this.#limit = limit;
    this.#offset = offset;
  }

  count(): Promise<number> {
    return this.#table.countRows(this.#filter, this.#limit, this.#offset);
  }

  total(): Promise<number> {
    return this.#table.countRows(this.#filter);
  }

  async toPage(): Promise<{ rows: Row[]; total: number }> {
    const rows = await this.toArray();
    // A page short of its limit is the last one: unless it is empty past the end, its rows
    // and offset are the total, and the count query is not needed.
    const last = this.#limit === undefined || rows.length < this.#limit;
    if (last && (rows.length > 0 || this.#offset === 0)) {
      return { rows, total: this.#offset + rows.length };
    }
    return { rows, total: await this.total() };
  }

  get length(): Promise<number> {
    return this.count();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Row> {
    for await (const page of this.pages()) yield* page;
  }

  /** The matching rows a page at a time (keyset paging, see order-by.ts). */
  async *pages(pageSize = PAGE_SIZE): AsyncGenerator<RowImpl[]> {
    for (let page = await this.#next(null, pageSize); page; ) {
      if (page.rows.length) yield page.rows;
      page = await this.#next(page, pageSize);
    }
  }

  async toArray(): Promise<Row[]> {
    // Most results fit one page, which SQLite often reads synchronously: no await then.
    let next = this.#next(null, PAGE_SIZE);
    let page = next instanceof Promise ? await next : next;
    if (page && !this.#hasNext(page)) return page.rows;
    const all: RowImpl[] = [];
    while (page) {
      all.push(...page.rows);
      next = this.#next(page, PAGE_SIZE);
      page = next instanceof Promise ? await next : next;
    }
    return all;
  }

  #hasNext(page: Page): boolean {
    return page.rows.length === page.size && page.last !== null && page.remaining > page.size;
  }

  /** The page after `previous` (null: the first page), or null when the search is done. */
  #next(previous: Page | null, pageSize: number): Page | null | Promise<Page | null> {
    let remaining = this.#limit ?? Number.POSITIVE_INFINITY;
    let offset = this.#offset;
    let after: Record<string, unknown> | null = null;
    if (previous) {
      if (!this.#hasNext(previous)) return null;
      remaining = previous.remaining - previous.rows.length;
      offset = 0;
      after = previous.last;
    }
    if (remaining <= 0) return null;
    const size = Math.min(pageSize, remaining);
    const found = this.#table.selectPage(this.#filter, this.#keys, after, size, offset);
    if (found instanceof Promise)
      return found.then(({ rows, last }) => ({ rows, last, size, remaining }));
    return { rows: found.rows, last: found.last, size, remaining };
  }

  /** A search is lazy, so it cannot become JSON by itself: say what to do instead of `{}`. */
  toJSON(): never {
    throw new TableError(
      "KILN_BAD_QUERY",
      `A search of ${this.#table.name} was turned into JSON as it is (it is lazy): return \`await tables.${this.#table.name}.search(...).toArray()\` instead`,
      { table: this.#table.name },
    );
  }

  async toCsv(options: CsvOptions = {}): Promise<Media> {
    const lines = [csvHeader(this.#table.columns)];
    for await (const page of this.pages()) {
      for (const row of page) lines.push(csvRow(this.#table.columns, row, options.raw));
    }
    return new BlobMedia("text/csv; charset=utf-8", lines.join(""), `${this.#table.name}.csv`);
  }
}
