import { type CompiledQuery, type QueryResult, sql } from "kysely";
import type { Media } from "../http/media.ts";
import { describe } from "./column-values.ts";
import type { CsvOptions } from "./csv.ts";
import type { Dialect } from "./dialect.ts";
import { rowDeleted, TableError } from "./errors.ts";
import { SearchFilter } from "./filters.ts";
import { LinkChanges } from "./link-changes.ts";
import { LinkLoader } from "./link-loading.ts";
import { linkRowsOf } from "./links-store.ts";
import { indexName, physicalTable, uniqueIndexName } from "./names.ts";
import { type SortKey, sortKeys } from "./order-by.ts";
import { isQuery } from "./query.ts";
import { type RowImpl, VALUES } from "./row.ts";
import { placeholders, RowInserts } from "./row-inserts.ts";
import { RowMaker } from "./row-maker.ts";
import { parseRowId, rowRef } from "./row-ref.ts";
import type { ColumnSchema, InternalColumn, UniqueConstraint } from "./schema.ts";
import { SearchResultImpl } from "./search-result.ts";
import { type Maybe, TableQueries } from "./table-queries.ts";
import { TableReads } from "./table-reads.ts";
import { runInTransaction } from "./transaction.ts";
import type { Row, RowValues, SearchOptions, SearchResult, Table } from "./types.ts";
import { type Write, WritePreparer } from "./write-values.ts";

/** What a table needs from the database it belongs to. */
export interface TablesContext {
  readonly dialect: Dialect;
  /** Another table of the same database, by name (for links). */
  table(name: string): TableImpl;
  /** A database error as a KilnError (unique violation, busy, other). */
  mapError(error: unknown, table: TableImpl): Error;
}

const NO_LINK_ROWS: ReadonlyMap<string, RowImpl> = new Map();

/**
 * A data table. Every query goes through Kysely with names from the schema and values as
 * parameters. The hot paths (getById, addRow, update, delete) compile their query once per
 * shape and reuse it (TableQueries, one cache shared with the helpers); the SQLite driver
 * then reuses the prepared statement too. The helpers are made once per table, so the hot
 * paths allocate nothing more: WritePreparer checks values, RowInserts writes new rows,
 * TableReads reads pages and rows by id, LinkChanges and LinkLoader write and follow links.
 */
export class TableImpl implements Table {
  readonly name: string;
  readonly tableId: number;
  readonly columns: readonly ColumnSchema[];
  readonly byName: ReadonlyMap<string, ColumnSchema>;
  readonly linkColumns: readonly ColumnSchema[];
  /**
   * The columns stored in the table's own row, in order: every column but `links` ones (join
   * tables). What SQL of other services may select from it (see loadRows).
   */
  readonly rowColumns: readonly string[];
  readonly #internals: readonly InternalColumn[];
  /** Unique index name → the (visible) columns it keeps unique; internal columns included. */
  readonly #uniqueIndexes: ReadonlyMap<string, readonly string[]>;
  readonly #physical: string;
  readonly #context: TablesContext;
  readonly #maker: RowMaker;
  readonly #selected: readonly string[];
  readonly #queries: TableQueries;
  readonly #writes: WritePreparer;
  readonly #links: LinkChanges;
  readonly #loader: LinkLoader;
  readonly #reads: TableReads;
  readonly #inserts: RowInserts;

  constructor(
    context: TablesContext,
    name: string,
    tableId: number,
    columns: readonly ColumnSchema[],
    internals: readonly InternalColumn[],
    uniques: readonly UniqueConstraint[] = [],
  ) {
    this.#context = context;
    this.name = name;
    this.tableId = tableId;
    this.columns = columns;
    this.byName = new Map(columns.map((c) => [c.name, c]));
    this.linkColumns = columns.filter((c) => c.kind === "link" || c.kind === "links");
    this.#internals = internals;
    const indexes = new Map<string, readonly string[]>();
    for (const unique of uniques)
      indexes.set(uniqueIndexName(tableId, unique.columns), unique.columns);
    for (const internal of internals) {
      if (internal.unique) indexes.set(indexName(tableId, internal.name, true), [internal.from]);
    }
    this.#uniqueIndexes = indexes;
    this.#physical = physicalTable(name);
    this.#maker = new RowMaker(this, context.dialect, (table: string) => context.table(table));
    this.rowColumns = columns.filter((c) => c.kind !== "links").map((c) => c.name);
    this.#selected = ["id", ...this.rowColumns];
    this.#queries = new TableQueries(context, this);
    this.#writes = new WritePreparer(this, context.dialect, internals);
    this.#links = new LinkChanges(this, this.#queries, context.dialect, {
      touch: (row) => this.#touch(row),
      checkExists: (row) => this.#checkExists(row),
    });
    this.#loader = new LinkLoader(this, this.#queries, context);
    this.#reads = new TableReads(this, this.#queries, context.dialect, this.#maker, this.#loader);
    this.#inserts = new RowInserts(
      this,
      this.#queries,
      context.dialect,
      this.#maker,
      this.#links,
      (write) => this.#savepoint(write),
    );
  }

  async addRow(values: RowValues = {}): Promise<Row> {
    const write = this.#writes.prepare(values, "insert");
    // Links go in their join tables: the row and its links are written together.
    if (write.lists.length) return (await this.#inserts.addAll([write]))[0]!;
    const insert = this.#inserts.statement(write.names, 1);
    const run = this.#guarded()
      ? this.#savepoint(() => this.#queries.run(insert, write.params))
      : this.#queries.run(insert, write.params);
    const result = run instanceof Promise ? await run : run;
    return this.#maker.added(Number((result.rows[0] as { id: unknown }).id), write.values);
  }

  /**
   * Adds many rows at once, atomically (joining the current transaction, if any): every row is
   * checked first, then rows of the same columns go in multi-row INSERTs. Much faster than a
   * loop of addRow for imports and seeding.
   */
  async addRows(list: readonly RowValues[]): Promise<Row[]> {
    if (!Array.isArray(list)) {
      throw new TableError(
        "KILN_BAD_VALUE",
        `${this.name}.addRows: expected an array of row values, got ${describe(list)}`,
        { table: this.name },
      );
    }
    return this.#inserts.addAll(list.map((values) => this.#writes.prepare(values, "insert")));
  }

  /** Checks row values as addRow would (KILN_UNKNOWN_COLUMN, KILN_BAD_VALUE), writing nothing. */
  checkValues(values: RowValues): void {
    this.#writes.prepare(values, "insert");
  }

  /** Whether writes here need a savepoint (see Dialect.errorsAbortTransaction). */
  #guarded(): boolean {
    const dialect = this.#context.dialect;
    return (
      this.#uniqueIndexes.size > 0 && dialect.errorsAbortTransaction && dialect.inTransaction()
    );
  }

  /**
   * The columns a unique violation is about, from what the database said (an index name, or
   * column names that may be internal ones); empty when it cannot tell.
   */
  uniqueColumns(violation: { index?: string; columns?: string[] }): readonly string[] {
    if (violation.index) return this.#uniqueIndexes.get(violation.index) ?? [];
    const named = (violation.columns ?? []).map(
      (name) => this.#internals.find((c) => c.name === name)?.from ?? name,
    );
    return named.every((name) => this.byName.has(name)) ? named : [];
  }

  /**
   * What KILN_DUPLICATE_VALUE adds about a clash on `column` when an internal column derived
   * from it keeps it unique (see InternalColumn.duplicateNote), else undefined.
   */
  duplicateNote(column: string): string | undefined {
    return this.#internals.find((c) => c.unique && c.from === column)?.duplicateNote;
  }

  /**
   * Runs a write that a unique index may refuse inside a savepoint, when the transaction
   * would otherwise be unusable after the error (PostgreSQL): catching KILN_DUPLICATE_VALUE
   * inside inTransaction then works as on SQLite.
   */
  async #savepoint<T>(write: () => Maybe<T>): Promise<T> {
    if (!this.#guarded()) return write();
    const db = this.#context.dialect.db;
    await sql`savepoint kiln_write`.execute(db);
    try {
      const result = await write();
      await sql`release savepoint kiln_write`.execute(db);
      return result;
    } catch (error) {
      await sql`rollback to savepoint kiln_write`.execute(db);
      throw error;
    }
  }

  search(filters?: unknown, options: SearchOptions = {}): SearchResult {
    const filter = new SearchFilter(this.#context.dialect, this, filters);
    const keys = sortKeys(this, options.orderBy);
    const limit = count(this.name, "limit", options.limit);
    const offset = count(this.name, "offset", options.offset) ?? 0;
    return new SearchResultImpl(this, filter, keys, limit, offset);
  }

  async get(filters: unknown): Promise<Row | null> {
    if (filters === undefined || (!isQuery(filters) && typeof filters !== "object")) {
      throw new TableError(
        "KILN_BAD_QUERY",
        `${this.name}.get(filters): filters must be an object, got ${describe(filters)}`,
        { table: this.name },
      );
    }
    const filter = new SearchFilter(this.#context.dialect, this, filters);
    const found = await new SearchResultImpl(this, filter, sortKeys(this, null), 2, 0).toArray();
    if (found.length > 1) {
      throw new TableError(
        "KILN_MULTIPLE_ROWS",
        `${this.name}.get() matched more than one row: use search() for several rows, or narrow the filters`,
        { table: this.name },
      );
    }
    return found[0] ?? null;
  }

  async getById(id: string): Promise<Row | null> {
    const parsed = parseRowId(id);
    if (!parsed || parsed.tableId !== this.tableId) return null;
    const compiled = this.#queries.compile("byId", () =>
      this.#queries.db.selectFrom(this.#physical).select(this.#selected).where("id", "=", 0),
    );
    const result = this.#queries.run(compiled, [parsed.rowId], true);
    const found = result instanceof Promise ? await result : result;
    if (!found.rows.length) return null;
    const rows = this.#loadRaws(found.rows);
    return (rows instanceof Promise ? await rows : rows)[0] ?? null;
  }

  /**
   * The row whose internal column (e.g. the users' `_emailKey`) has this value, or null: at
   * once when SQLite can run the query now and the row needs no other query (its links are
   * loaded), else a promise. Every authenticated request with Basic credentials reads its user
   * this way, so it makes no promise it does not need (each costs async hooks and a microtask).
   */
  getByInternal(column: string, value: unknown): Maybe<Row | null> {
    const compiled = this.#queries.compile(`by:${column}`, () =>
      this.#queries.db.selectFrom(this.#physical).select(this.#selected).where(column, "=", ""),
    );
    // Rows as arrays (when SQLite runs it at once): the driver then names no column per value,
    // a few µs of every authenticated request.
    const result = this.#queries.run(compiled, [value], true);
    const first = (found: QueryResult<unknown>): Maybe<Row | null> => {
      if (!found.rows.length) return null;
      const rows = this.#loadRaws(found.rows);
      const one = (made: RowImpl[]) => made[0] ?? null;
      return rows instanceof Promise ? rows.then(one) : one(rows);
    };
    return result instanceof Promise ? result.then(first) : first(result);
  }

  /** As loadRows, for rows selected with `#selected` that may have come back as arrays. */
  #loadRaws(raws: readonly unknown[]): Maybe<RowImpl[]> {
    const made = (raws as (Record<string, unknown> | unknown[])[]).map((raw) =>
      Array.isArray(raw) ? this.#maker.fromDbArray(raw) : this.#maker.fromDb(raw),
    );
    return this.#loader.linked(made, NO_LINK_ROWS);
  }

  async deleteAllRows(): Promise<void> {
    await this.#queries.run(
      this.#queries.compile("deleteAll", () => this.#queries.db.deleteFrom(this.#physical)),
      [],
    );
  }

  toCsv(options?: CsvOptions): Promise<Media> {
    return this.search().toCsv(options);
  }

  async updateRow(row: RowImpl, values: RowValues): Promise<void> {
    const write = this.#writes.prepare(values, "update");
    if (write.lists.length) {
      // A list is replaced whole: its old link rows go, the new ones come, with the row's
      // other columns, all in one transaction.
      await runInTransaction(this.#context.dialect, () =>
        this.#savepoint(() => this.#update(row, write)),
      );
    } else if (write.names.length) {
      // The hot path: one UPDATE compiled once per shape, run at once when it can be.
      const compiled = this.#updateQuery(write.names);
      const params = [...write.params, rowRef(row)!.rowId];
      const run = this.#guarded()
        ? this.#savepoint(() => this.#queries.run(compiled, params))
        : this.#queries.run(compiled, params);
      const result = run instanceof Promise ? await run : run;
      if (result.numAffectedRows === 0n) throw rowDeleted(this.name, row.id);
    } else {
      return;
    }
    const stored = row[VALUES];
    if (stored) Object.assign(stored, write.values);
  }

  #updateQuery(names: readonly string[]): CompiledQuery {
    return this.#queries.compile(`update:${names.join(",")}`, () =>
      this.#queries.db.updateTable(this.#physical).set(placeholders(names)).where("id", "=", -1),
    );
  }

  /** The UPDATE of a write's columns, then its lists (see updateRow). */
  async #update(row: RowImpl, write: Write): Promise<void> {
    const rowId = rowRef(row)!.rowId;
    if (write.names.length) {
      const run = this.#queries.run(this.#updateQuery(write.names), [...write.params, rowId]);
      const result = run instanceof Promise ? await run : run;
      if (result.numAffectedRows === 0n) throw rowDeleted(this.name, row.id);
    } else {
      await this.#checkExists(row);
    }
    for (const [column, targets] of write.lists) {
      await this.#links.clear(column, rowId);
      if (targets?.length) await this.#links.insert(column, linkRowsOf(rowId, targets));
    }
  }

  /**
   * Adds one link to a `links` column in one statement (the list is changed by the database,
   * not rewritten from what this process read), so concurrent adds are all kept. A link
   * already there is not added twice.
   */
  async addLink(row: unknown, column: string, linked: unknown): Promise<void> {
    await this.#links.change("addLink", row, column, linked);
  }

  /** Removes one link from a `links` column in one statement (see addLink). */
  async removeLink(row: unknown, column: string, linked: unknown): Promise<void> {
    await this.#links.change("removeLink", row, column, linked);
  }

  /**
   * The number of rows a `links` column of the row links to, in one indexed query: the join
   * table holds links between existing rows only (0 for a deleted row).
   */
  countLinks(row: unknown, column: string): Promise<number> {
    return this.#links.count(row, column);
  }

  /** Sets the `onUpdate: now` columns of a row (its links changed), in the database and in hand. */
  async #touch(row: RowImpl): Promise<void> {
    const write = this.#writes.prepare({}, "touch");
    await this.#update(row, write);
    const stored = row[VALUES];
    if (stored) Object.assign(stored, write.values);
  }

  async #checkExists(row: RowImpl): Promise<void> {
    const ref = rowRef(row)!;
    const rows = await this.#queries.rows(
      this.#queries.db
        .selectFrom(this.#physical)
        .select("id")
        .where("id", "=", ref.rowId)
        .compile(),
    );
    if (!rows.length) throw rowDeleted(this.name, row.id);
  }

  async deleteRow(row: RowImpl): Promise<void> {
    const compiled = this.#queries.compile("delete", () =>
      this.#queries.db.deleteFrom(this.#physical).where("id", "=", 0),
    );
    await this.#queries.run(compiled, [rowRef(row)!.rowId]);
  }

  /** One page of a search (see TableReads.page). */
  selectPage(
    filter: SearchFilter,
    keys: readonly SortKey[],
    after: Record<string, unknown> | null,
    size: number,
    offset: number,
  ): Maybe<{ rows: RowImpl[]; last: Record<string, unknown> | null }> {
    return this.#reads.page(filter, keys, after, size, offset);
  }

  /** The number of rows the filter matches (see TableReads.count). */
  countRows(filter: SearchFilter, limit?: number, offset = 0): Promise<number> {
    return this.#reads.count(filter, limit, offset);
  }

  /** Rows of this table by id; their own links are left as unloaded rows. */
  rowsByIds(ids: readonly number[]): Promise<Map<number, RowImpl>> {
    return this.#reads.byIds(ids);
  }

  /** Which of these row numbers are rows of this table (a CSV import's links are checked). */
  existingIds(ids: readonly number[]): Promise<Set<number>> {
    return this.#reads.existingIds(ids);
  }

  /** A row known only by its id (reached through two links): reading a column throws. */
  stub(rowId: number): RowImpl {
    return this.#maker.stub(rowId);
  }

  /**
   * Rows from database values another service's SQL selected (`rowColumns` and `id`), with
   * their links followed one level (a query, if any).
   */
  loadRows(raws: readonly Record<string, unknown>[]): Maybe<Row[]> {
    return this.#loader.linked(
      raws.map((raw) => this.#maker.fromDb(raw)),
      NO_LINK_ROWS,
    );
  }

  /** The columns a query of this table selects, id first (for other tables' joins). */
  get selectedColumns(): readonly string[] {
    return this.#selected;
  }

  /**
   * Rows of this table from database values another table's join read (see
   * LinkLoader); their own links are left as unloaded rows, as rowsByIds does.
   */
  async linkedRowsFromDb(raws: readonly Record<string, unknown>[]): Promise<RowImpl[]> {
    const rows = raws.map((raw) => this.#maker.fromDb(raw));
    if (this.#loader.hasLists && rows.length) await this.#loader.loadLists(rows);
    for (const row of rows) this.#maker.stubLinks(row);
    return rows;
  }
}

function count(table: string, name: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  // Usually a page number or size from the request (`Number("abc")` is NaN): the client's to fix.
  throw new TableError(
    "KILN_BAD_QUERY",
    `${table}.search: ${name} must be a whole number >= 0, got ${describe(value)}`,
    { table },
    { status: 400 },
  );
}
