import { type CompiledQuery, type QueryResult, type RawBuilder, sql } from "kysely";
import type { Media } from "../http/media.ts";
import { describe, details, storedValue } from "./column-values.ts";
import type { CsvOptions } from "./csv.ts";
import type { Dialect } from "./dialect.ts";
import { TableError } from "./errors.ts";
import { SearchFilter, shapeCondition } from "./filters.ts";
import { resolveLinks } from "./links.ts";
import { groupLinkLists, insertLinksQuery, linkListsQuery, linkRowsOf } from "./links-store.ts";
import { indexName, linksTable, physicalTable, uniqueIndexName } from "./names.ts";
import { afterClause, orderByClause, type SortKey, sortKeys, sortKeysKey } from "./order-by.ts";
import { isQuery } from "./query.ts";
import { type RowImpl, VALUES } from "./row.ts";
import { RowMaker, shownValue } from "./row-maker.ts";
import { parseRowId, type RowRef, rowRef } from "./row-ref.ts";
import type { ColumnSchema, InternalColumn, UniqueConstraint } from "./schema.ts";
import { SearchResultImpl } from "./search-result.ts";
import { runInTransaction } from "./transaction.ts";
import type { Row, RowValues, SearchOptions, SearchResult, Table } from "./types.ts";

/** What a table needs from the database it belongs to. */
export interface TablesContext {
  readonly dialect: Dialect;
  /** Another table of the same database, by name (for links). */
  table(name: string): TableImpl;
  /** A database error as a KilnError (unique violation, busy, other). */
  mapError(error: unknown, table: TableImpl): Error;
}

/** Rows per multi-row INSERT of addRows, and parameters per statement (under both backends' limits). */
const ROWS_PER_INSERT = 100;
const PARAMS_PER_INSERT = 10_000;
/** Link rows per INSERT into a join table (one parameter holds them all). */
const LINKS_PER_INSERT = 10_000;
/** Rows fetched per `id IN (...)` query when following links. */
const IDS_PER_QUERY = 500;
/** Past the end of any table: OFFSET without LIMIT is not valid SQLite. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;
/** Compiled queries kept per table; past this (searches of ever new shapes) the cache starts over. */
const MAX_COMPILED = 1000;
const NO_LINK_ROWS: ReadonlyMap<string, RowImpl> = new Map();

/**
 * A data table. Every query goes through Kysely with names from the schema and values as
 * parameters. The hot paths (getById, addRow, update, delete) compile their query once per
 * shape and reuse it; the SQLite driver then reuses the prepared statement too. (One class
 * of some 400 lines on purpose: every operation shares that cache and the fast path in #execute.)
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
  /** Columns with a `default` or `onUpdate: now`. */
  readonly #automatic: readonly ColumnSchema[];
  /** `links` columns: each is a join table, not a column of the row. */
  readonly #lists: readonly ColumnSchema[];
  /** Whether a change of a links list alone (addLink) sets `onUpdate: now` columns. */
  readonly #touches: boolean;
  readonly #context: TablesContext;
  readonly #maker: RowMaker;
  readonly #selected: readonly string[];
  readonly #compiled = new Map<string, CompiledQuery>();
  /** The last INSERT used: a loop of addRow finds it without building a cache key. */
  #lastInsert: { names: readonly string[]; rows: number; compiled: CompiledQuery } | null = null;

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
    this.#automatic = columns.filter((c) => c.default || c.onUpdateNow);
    this.#lists = columns.filter((c) => c.kind === "links");
    this.#touches = columns.some((c) => c.onUpdateNow);
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
  }

  get #db() {
    return this.#context.dialect.db;
  }

  async addRow(values: RowValues = {}): Promise<Row> {
    const write = this.#prepareWrite(values, "insert");
    // Links go in their join tables: the row and its links are written together.
    if (write.lists.length) return (await this.#addAll([write]))[0]!;
    const insert = this.#insert(write.names, 1);
    const run = this.#guarded()
      ? this.#savepoint(() => this.#run(insert, write.params))
      : this.#run(insert, write.params);
    const result = run instanceof Promise ? await run : run;
    return this.#maker.added(
      Number((result.rows[0] as { id: unknown }).id),
      write.values,
    ) as unknown as Row;
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
    return this.#addAll(list.map((values) => this.#prepareWrite(values, "insert")));
  }

  /** Inserts checked rows, then their links, in one transaction (see addRows). */
  #addAll(writes: readonly Write[]): Promise<Row[]> {
    return runInTransaction(this.#context.dialect, () =>
      this.#savepoint(async () => {
        const added: Row[] = [];
        const links = new Map<ColumnSchema, [number, number, number][]>();
        for (let start = 0; start < writes.length; ) {
          const names = writes[start]!.names;
          const max = names.length
            ? Math.min(ROWS_PER_INSERT, Math.floor(PARAMS_PER_INSERT / names.length))
            : 1;
          let end = start + 1;
          while (end < writes.length && end - start < max && sameNames(writes[end]!.names, names))
            end++;
          const params: unknown[] = [];
          for (let i = start; i < end; i++) params.push(...writes[i]!.params);
          const run = this.#run(this.#insert(names, end - start), params);
          const result = run instanceof Promise ? await run : run;
          // One statement's ids are given in the order of its VALUES rows, on both backends.
          const ids = result.rows
            .map((r) => Number((r as { id: unknown }).id))
            .sort((a, b) => a - b);
          for (let i = start; i < end; i++) {
            const rowId = ids[i - start]!;
            added.push(this.#maker.added(rowId, writes[i]!.values) as unknown as Row);
            for (const [column, targets] of writes[i]!.lists) {
              if (!targets?.length) continue;
              const rows = links.get(column) ?? [];
              links.set(column, rows);
              for (const link of linkRowsOf(rowId, targets)) rows.push(link);
            }
          }
          start = end;
        }
        for (const [column, rows] of links) await this.#insertLinks(column, rows);
        return added;
      }),
    );
  }

  /** Inserts link rows of a `links` column, LINKS_PER_INSERT at a time. */
  async #insertLinks(column: ColumnSchema, rows: readonly (readonly [number, number, number])[]) {
    const links = linksTable(this.tableId, column.name);
    const target = physicalTable(column.target!);
    for (let i = 0; i < rows.length; i += LINKS_PER_INSERT) {
      const chunk = rows.slice(i, i + LINKS_PER_INSERT);
      await this.#execute(
        insertLinksQuery(this.#context.dialect, links, target, chunk).compile(this.#db),
      );
    }
  }

  /** Checks row values as addRow would (KILN_UNKNOWN_COLUMN, KILN_BAD_VALUE), writing nothing. */
  checkValues(values: RowValues): void {
    this.#prepareWrite(values, "insert");
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

  /** The compiled INSERT of `rows` rows with these columns, made once per shape. */
  #insert(names: readonly string[], rows: number): CompiledQuery {
    const last = this.#lastInsert;
    if (last && last.rows === rows && sameNames(last.names, names)) return last.compiled;
    const compiled = this.#compile(`insert:${rows}:${names.join(",")}`, () => {
      if (!names.length) return this.#db.insertInto(this.#physical).defaultValues().returning("id");
      const values = Array.from({ length: rows }, () => placeholders(names));
      return this.#db.insertInto(this.#physical).values(values).returning("id");
    });
    this.#lastInsert = { names, rows, compiled };
    return compiled;
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
    const compiled = this.#compile("byId", () =>
      this.#db.selectFrom(this.#physical).select(this.#selected).where("id", "=", 0),
    );
    const result = this.#run(compiled, [parsed.rowId], true);
    const found = result instanceof Promise ? await result : result;
    if (!found.rows.length) return null;
    const rows = this.#loadRaws(found.rows);
    return ((rows instanceof Promise ? await rows : rows)[0] ?? null) as unknown as Row;
  }

  /** The row whose internal column (e.g. the users' `_emailKey`) has this value, or null. */
  /**
   * The row whose internal column (e.g. the users' `_emailKey`) has this value, or null: at
   * once when SQLite can run the query now and the row needs no other query (its links are
   * loaded), else a promise. Every authenticated request with Basic credentials reads its user
   * this way, so it makes no promise it does not need (each costs async hooks and a microtask).
   */
  getByInternal(column: string, value: unknown): Maybe<Row | null> {
    const compiled = this.#compile(`by:${column}`, () =>
      this.#db.selectFrom(this.#physical).select(this.#selected).where(column, "=", ""),
    );
    // Rows as arrays (when SQLite runs it at once): the driver then names no column per value,
    // a few µs of every authenticated request.
    const result = this.#run(compiled, [value], true);
    const first = (found: QueryResult<unknown>): Maybe<Row | null> => {
      if (!found.rows.length) return null;
      const rows = this.#loadRaws(found.rows);
      const one = (made: RowImpl[]) => (made[0] ?? null) as unknown as Row | null;
      return rows instanceof Promise ? rows.then(one) : one(rows);
    };
    return result instanceof Promise ? result.then(first) : first(result);
  }

  async deleteAllRows(): Promise<void> {
    await this.#run(
      this.#compile("deleteAll", () => this.#db.deleteFrom(this.#physical)),
      [],
    );
  }

  toCsv(options?: CsvOptions): Promise<Media> {
    return this.search().toCsv(options);
  }

  async updateRow(row: RowImpl, values: RowValues): Promise<void> {
    const write = this.#prepareWrite(values, "update");
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
        ? this.#savepoint(() => this.#run(compiled, params))
        : this.#run(compiled, params);
      const result = run instanceof Promise ? await run : run;
      if (result.numAffectedRows === 0n) throw this.#deleted(row);
    } else {
      return;
    }
    const stored = row[VALUES];
    if (stored) Object.assign(stored, write.values);
  }

  #updateQuery(names: readonly string[]): CompiledQuery {
    return this.#compile(`update:${names.join(",")}`, () =>
      this.#db.updateTable(this.#physical).set(placeholders(names)).where("id", "=", -1),
    );
  }

  /** The UPDATE of a write's columns, then its lists (see updateRow). */
  async #update(row: RowImpl, write: Write): Promise<void> {
    const rowId = rowRef(row)!.rowId;
    if (write.names.length) {
      const run = this.#run(this.#updateQuery(write.names), [...write.params, rowId]);
      const result = run instanceof Promise ? await run : run;
      if (result.numAffectedRows === 0n) throw this.#deleted(row);
    } else {
      await this.#checkExists(row);
    }
    for (const [column, targets] of write.lists) {
      const links = sql.table(linksTable(this.tableId, column.name));
      await this.#execute(sql`delete from ${links} where row_id = ${rowId}`.compile(this.#db));
      if (targets?.length) await this.#insertLinks(column, linkRowsOf(rowId, targets));
    }
  }

  /**
   * Adds one link to a `links` column in one statement (the list is changed by the database,
   * not rewritten from what this process read), so concurrent adds are all kept. A link
   * already there is not added twice.
   */
  async addLink(row: unknown, column: string, linked: unknown): Promise<void> {
    await this.#changeLink("addLink", row, column, linked);
  }

  /** Removes one link from a `links` column in one statement (see addLink). */
  async removeLink(row: unknown, column: string, linked: unknown): Promise<void> {
    await this.#changeLink("removeLink", row, column, linked);
  }

  /**
   * One statement inserts (or deletes) the link's row in the join table, so concurrent changes
   * never undo each other; then `onUpdate: now` columns are set, if the list changed (both in
   * one transaction, at read committed so that concurrent adds to one row wait for each other
   * instead of failing), and the row's loaded list follows. Nothing changed: the row may be
   * gone (KILN_ROW_DELETED), or the list already was as asked.
   */
  async #changeLink(
    method: "addLink" | "removeLink",
    row: unknown,
    column: string,
    linked: unknown,
  ): Promise<void> {
    const { ref, links, linkedId } = this.#linkChange(method, row, column, linked);
    const dialect = this.#context.dialect;
    const adding = method === "addLink";
    const change = async () => {
      const compiled = adding ? this.#addLinkQuery(links) : this.#removeLinkQuery(links);
      const params = adding
        ? [ref.rowId, linkedId, ref.rowId, ref.rowId, linkedId]
        : [ref.rowId, linkedId];
      const run = this.#run(compiled, params);
      const result = run instanceof Promise ? await run : run;
      if (result.numAffectedRows === 0n) return this.#checkExists(row as RowImpl);
      if (this.#touches) await this.#touch(row as RowImpl);
    };
    if (this.#touches && !dialect.inTransaction()) {
      await dialect.transaction(change, { isolationLevel: "read committed" });
    } else {
      await change();
    }
    const values = (row as RowImpl)[VALUES];
    const list = values?.[links.name] as RowImpl[] | undefined;
    if (!list) return;
    const isLinked = (r: RowImpl) => rowRef(r)?.rowId === linkedId;
    if (!adding) values![links.name] = list.filter((r) => !isLinked(r));
    else if (!list.some(isLinked)) list.push(linked as RowImpl);
  }

  /** Appends a link where both rows exist and it is not there yet. */
  #addLinkQuery(links: ColumnSchema): CompiledQuery {
    return this.#compile(`addLink:${links.name}`, () => {
      const table = sql.table(linksTable(this.tableId, links.name));
      const target = sql.table(physicalTable(links.target!));
      const [rowId, linkedId, positionOf, rowAgain, linkedAgain] = [0, 1, 2, 3, 4];
      return this.#raw(sql`insert into ${table} (row_id, target_id, position)
        select cast(${rowId} as bigint), cast(${linkedId} as bigint), (select coalesce(max(position), 0) + 1 from ${table} where row_id = ${positionOf})
        where exists (select 1 from ${sql.table(this.#physical)} where id = ${rowAgain})
        and exists (select 1 from ${target} where id = ${linkedAgain})
        on conflict do nothing`);
    });
  }

  #removeLinkQuery(links: ColumnSchema): CompiledQuery {
    return this.#compile(`removeLink:${links.name}`, () => {
      const table = sql.table(linksTable(this.tableId, links.name));
      return this.#raw(sql`delete from ${table} where row_id = ${0} and target_id = ${1}`);
    });
  }

  /** Sets the `onUpdate: now` columns of a row (its links changed), in the database and in hand. */
  async #touch(row: RowImpl): Promise<void> {
    const write = this.#prepareWrite({}, "touch");
    await this.#update(row, write);
    const stored = row[VALUES];
    if (stored) Object.assign(stored, write.values);
  }

  /**
   * The number of rows a `links` column of the row links to, in one indexed query: the join
   * table holds links between existing rows only (0 for a deleted row).
   */
  async countLinks(row: unknown, column: string): Promise<number> {
    const { ref, links } = this.#linkChange("countLinks", row, column, undefined);
    const compiled = this.#compile(`countLinks:${links.name}`, () => {
      const table = sql.table(linksTable(this.tableId, links.name));
      return this.#raw(sql`select count(*) as n from ${table} where row_id = ${0}`);
    });
    const run = this.#run(compiled, [ref.rowId]);
    const result = run instanceof Promise ? await run : run;
    return Number((result.rows[0] as { n: unknown } | undefined)?.n ?? 0);
  }

  /** Checks the arguments of addLink, removeLink and countLinks. */
  #linkChange(method: string, row: unknown, column: string, linked: unknown) {
    const ref = rowRef(row);
    if (!ref || ref.tableId !== this.tableId) {
      throw new TableError(
        "KILN_BAD_VALUE",
        `${this.name}.${method}(row, ...): expected a row of ${this.name}, got ${describe(row)}`,
        { table: this.name },
      );
    }
    const links = this.byName.get(column);
    if (!links) throw this.#unknownColumn(column);
    if (links.kind !== "links") {
      throw new TableError(
        "KILN_BAD_QUERY",
        `${this.name}.${method}: ${column} is a ${links.type} column, not links`,
        details(this.name, links),
      );
    }
    const linkedId =
      linked === undefined ? 0 : (storedValue(this.name, links, [linked]) as number[])[0]!;
    return { ref, links, linkedId };
  }

  async #checkExists(row: RowImpl): Promise<void> {
    const ref = rowRef(row)!;
    const rows = await this.#rows(
      this.#db.selectFrom(this.#physical).select("id").where("id", "=", ref.rowId).compile(),
    );
    if (!rows.length) throw this.#deleted(row);
  }

  async deleteRow(row: RowImpl): Promise<void> {
    const compiled = this.#compile("delete", () =>
      this.#db.deleteFrom(this.#physical).where("id", "=", 0),
    );
    await this.#run(compiled, [rowRef(row)!.rowId]);
  }

  /**
   * One page of a search: rows, and the database values of the last one (for the next page).
   * The first page of a search by equalities (see SearchFilter.shape) runs SQL compiled once
   * per shape, synchronously when the dialect can: a repeated search builds no query at all.
   */
  selectPage(
    filter: SearchFilter,
    keys: readonly SortKey[],
    after: Record<string, unknown> | null,
    size: number,
    offset: number,
  ): Maybe<{ rows: RowImpl[]; last: Record<string, unknown> | null }> {
    let run: Maybe<QueryResult<unknown>>;
    const shape = filter.shape;
    const dialect = this.#context.dialect;
    if (shape && !after) {
      const compiled = this.#compile(
        `page:${shape.key}:${sortKeysKey(keys)}:${offset ? "offset" : ""}`,
        () => {
          const where = shapeCondition(this, shape.names);
          let query = this.#db.selectFrom(this.#physical).select(this.#selected);
          if (where) query = query.where(where);
          query = query.orderBy(orderByClause(keys)).limit(dialect.rowCount(-1));
          return offset ? query.offset(dialect.rowCount(-2)) : query;
        },
      );
      const params = [...shape.params, size];
      if (offset) params.push(offset);
      run = this.#run(compiled, params, true);
    } else {
      let query = this.#db.selectFrom(this.#physical).select(this.#selected);
      if (filter.condition) query = query.where(filter.condition);
      if (after) query = query.where(afterClause(keys, after));
      query = query.orderBy(orderByClause(keys)).limit(dialect.rowCount(size));
      if (offset) query = query.offset(dialect.rowCount(offset));
      run = this.#execute(query.compile());
    }
    const page = (result: QueryResult<unknown>) => {
      // Arrays when SQLite ran the query at once (see Dialect.executeNow), else objects.
      const raws = result.rows as (Record<string, unknown> | unknown[])[];
      const lastRaw = raws[raws.length - 1];
      const last = Array.isArray(lastRaw) ? this.#named(lastRaw) : (lastRaw ?? null);
      const rows = this.#loadRaws(raws, filter.linkRows);
      return rows instanceof Promise ? rows.then((r) => ({ rows: r, last })) : { rows, last };
    };
    return run instanceof Promise ? run.then(page) : page(run);
  }

  /**
   * The number of rows the filter matches (within limit and offset, if given). A count by
   * equalities without paging runs SQL compiled once per shape, as selectPage does.
   */
  async countRows(filter: SearchFilter, limit?: number, offset = 0): Promise<number> {
    const shape = filter.shape;
    if (shape && limit === undefined && !offset) {
      const compiled = this.#compile(`count:${shape.key}`, () => {
        const where = shapeCondition(this, shape.names);
        const query = this.#db.selectFrom(this.#physical).select(sql<number>`count(*)`.as("n"));
        return where ? query.where(where) : query;
      });
      const run = this.#run(compiled, shape.params);
      const result = run instanceof Promise ? await run : run;
      return Number((result.rows[0] as { n: unknown } | undefined)?.n ?? 0);
    }
    const where = filter.condition;
    let inner = this.#db.selectFrom(this.#physical).select("id");
    if (where) inner = inner.where(where);
    const query =
      limit === undefined && !offset
        ? this.#db.selectFrom(this.#physical).$call((q) => (where ? q.where(where) : q))
        : this.#db.selectFrom(
            inner
              .limit(this.#context.dialect.rowCount(limit ?? NO_LIMIT))
              .offset(this.#context.dialect.rowCount(offset))
              .as("matching"),
          );
    const rows = await this.#rows(query.select(sql<number>`count(*)`.as("n")).compile());
    return Number(rows[0]?.n ?? 0);
  }

  /** Rows of this table by id; their own links are left as unloaded rows. */
  async rowsByIds(ids: readonly number[]): Promise<Map<number, RowImpl>> {
    const found = new Map<number, RowImpl>();
    const dialect = this.#context.dialect;
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      const chunk = ids.slice(i, i + IDS_PER_QUERY);
      // The ids are one parameter (Dialect.listParam): one statement for any number of them.
      const compiled = this.#compile("byIds", () =>
        this.#db
          .selectFrom(this.#physical)
          .select(this.#selected)
          .where(dialect.inList(sql.ref("id"), "id", [])),
      );
      const run = this.#run(compiled, [dialect.listParam(chunk)]);
      const result = run instanceof Promise ? await run : run;
      const rows = (result.rows as Record<string, unknown>[]).map((raw) => this.#maker.fromDb(raw));
      if (this.#lists.length && rows.length) await this.#loadLists(rows);
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
      const compiled = this.#compile(`idsExist:${chunk.length}`, () =>
        this.#db
          .selectFrom(this.#physical)
          .select("id")
          .where(
            "id",
            "in",
            chunk.map(() => 0),
          ),
      );
      const run = this.#run(compiled, chunk);
      const result = run instanceof Promise ? await run : run;
      for (const raw of result.rows as { id: unknown }[]) found.add(Number(raw.id));
    }
    return found;
  }

  /** A row known only by its id (reached through two links): reading a column throws. */
  stub(rowId: number): RowImpl {
    return this.#maker.stub(rowId);
  }

  /**
   * Rows from database values, with their links followed one level (a query, if any). A link
   * column in `linkRows` (the search's filters fixed it to that row) takes that row as is.
   */
  loadRows(
    raws: readonly Record<string, unknown>[],
    linkRows: ReadonlyMap<string, RowImpl> = NO_LINK_ROWS,
  ): Maybe<RowImpl[]> {
    return this.#linked(
      raws.map((raw) => this.#maker.fromDb(raw)),
      linkRows,
    );
  }

  /** As loadRows, for rows selected with `#selected` that may have come back as arrays. */
  #loadRaws(
    raws: readonly unknown[],
    linkRows: ReadonlyMap<string, RowImpl> = NO_LINK_ROWS,
  ): Maybe<RowImpl[]> {
    const made = (raws as (Record<string, unknown> | unknown[])[]).map((raw) =>
      Array.isArray(raw) ? this.#maker.fromDbArray(raw) : this.#maker.fromDb(raw),
    );
    return this.#linked(made, linkRows);
  }

  /** The database values of a row given as an array, by column name. */
  #named(raw: readonly unknown[]): Record<string, unknown> {
    const named: Record<string, unknown> = {};
    for (let i = 0; i < this.#selected.length; i++) named[this.#selected[i]!] = raw[i];
    return named;
  }

  /** Rows with their links followed (see loadRows). */
  #linked(rows: RowImpl[], linkRows: ReadonlyMap<string, RowImpl>): Maybe<RowImpl[]> {
    let columns = this.linkColumns;
    if (linkRows.size) columns = columns.filter((c) => !this.#useLinkRow(c, linkRows, rows));
    if (!columns.length) return rows;
    const links = columns.filter((c) => c.kind === "link");
    const lists = this.#lists.length && rows.length ? this.#loadLinkedLists(rows) : null;
    if (!links.length) return lists ? lists.then(() => rows) : rows;
    const resolve = () =>
      resolveLinks(links, rows, (name) => this.#context.table(name)).then(() => rows);
    return lists ? lists.then(resolve) : resolve();
  }

  /**
   * Fills the rows' `links` lists with the linked rows: one query per column, joining the join
   * table to the linked table (the ids are one parameter, Dialect.listParam, so the SQL is the
   * same for every page).
   */
  async #loadLinkedLists(rows: readonly RowImpl[]): Promise<void> {
    const ids = rows.map((row) => rowRef(row)!.rowId);
    const dialect = this.#context.dialect;
    for (const column of this.#lists) {
      const target = this.#context.table(column.target!);
      const compiled = this.#compile(`linked:${column.name}`, () => {
        const links = sql.table(linksTable(this.tableId, column.name));
        const selected = target.selectedColumns.map((name) => sql.ref(`t.${name}`));
        const owners = dialect.inList(sql.ref("l.row_id"), "id", []);
        // `_kiln_row`: no column of the app's can start with an underscore.
        return this.#raw(
          sql`select l.row_id as _kiln_row, ${sql.join(selected)} from ${links} as l join ${sql.table(physicalTable(target.name))} as t on t.id = l.target_id where ${owners} order by l.row_id, l.position, l.target_id`,
        );
      });
      const run = this.#run(compiled, [dialect.listParam(ids)]);
      const result = run instanceof Promise ? await run : run;
      const raws = result.rows as Record<string, unknown>[];
      const linked = await target.linkedRowsFromDb(raws);
      const lists = new Map<number, RowImpl[]>();
      for (let i = 0; i < raws.length; i++) {
        const owner = Number(raws[i]!._kiln_row);
        const list = lists.get(owner);
        if (list) list.push(linked[i]!);
        else lists.set(owner, [linked[i]!]);
      }
      for (const row of rows) row[VALUES]![column.name] = lists.get(rowRef(row)!.rowId) ?? [];
    }
  }

  /** The columns a query of this table selects, id first (for other tables' joins). */
  get selectedColumns(): readonly string[] {
    return this.#selected;
  }

  /**
   * Rows of this table from database values another table's join read (see
   * #loadLinkedLists); their own links are left as unloaded rows, as rowsByIds does.
   */
  async linkedRowsFromDb(raws: readonly Record<string, unknown>[]): Promise<RowImpl[]> {
    const rows = raws.map((raw) => this.#maker.fromDb(raw));
    if (this.#lists.length && rows.length) await this.#loadLists(rows);
    for (const row of rows) this.#maker.stubLinks(row);
    return rows;
  }

  /** Fills the rows' `links` lists with target ids, from the join tables: a query per column. */
  async #loadLists(rows: readonly RowImpl[]): Promise<void> {
    const ids = rows.map((row) => rowRef(row)!.rowId);
    const dialect = this.#context.dialect;
    for (const column of this.#lists) {
      // The ids are one parameter (Dialect.listParam): the SQL is the same for every page.
      const compiled = this.#compile(`lists:${column.name}`, () =>
        this.#raw(linkListsQuery(dialect, linksTable(this.tableId, column.name), [])),
      );
      const run = this.#run(compiled, [dialect.listParam(ids)]);
      const result = run instanceof Promise ? await run : run;
      const lists = groupLinkLists(result.rows as { row_id: unknown; target_id: unknown }[]);
      for (const row of rows) row[VALUES]![column.name] = lists.get(rowRef(row)!.rowId) ?? [];
    }
  }

  /** Sets a link column of every row to the row the filters fixed it to, if it is one. */
  #useLinkRow(column: ColumnSchema, linkRows: ReadonlyMap<string, RowImpl>, rows: RowImpl[]) {
    const linked = linkRows.get(column.name);
    const ref: RowRef | null = rowRef(linked);
    if (!linked || ref?.tableId !== this.#context.table(column.target!).tableId) return false;
    for (const row of rows) row[VALUES]![column.name] = linked;
    return true;
  }

  /**
   * Checks values for a write: database parameters, plus the values the row will show.
   * Columns left out get their `default` on insert, and `onUpdate: now` columns the time of
   * the write on update (when the update writes anything).
   */
  #prepareWrite(given: unknown, kind: "insert" | "update" | "touch"): Write {
    if (typeof given !== "object" || given === null || Array.isArray(given) || rowRef(given)) {
      throw new TableError(
        "KILN_BAD_VALUE",
        `${this.name}: row values must be an object of column: value, got ${describe(given)}`,
        { table: this.name },
      );
    }
    const values = this.#automatic.length ? this.#withAutomatic(given, kind) : given;
    const dialect = this.#context.dialect;
    const names: string[] = [];
    const params: unknown[] = [];
    const shown: Record<string, unknown> = {};
    const lists: Write["lists"] = [];
    for (const name of Object.keys(values)) {
      const value = (values as Record<string, unknown>)[name];
      if (value === undefined) continue;
      const column = this.byName.get(name);
      if (!column) throw this.#unknownColumn(name);
      let stored = storedValue(this.name, column, value);
      if (column.normalise && typeof stored === "string") {
        const normalised = column.normalise(stored);
        if (normalised === null) {
          throw new TableError(
            "KILN_BAD_VALUE",
            `${this.name}.${name} is ${column.expected}: got ${describe(value)}`,
            details(this.name, column),
          );
        }
        stored = normalised;
      }
      shown[name] = shownValue(column, stored, value);
      if (column.kind === "links") {
        lists.push([column, stored === null ? null : [...new Set(stored as number[])]]);
        continue;
      }
      names.push(name);
      params.push(dialect.toDb(column.kind, stored));
    }
    for (const internal of this.#internals) {
      if (!(internal.from in shown)) continue;
      names.push(internal.name);
      params.push(internal.derive(shown[internal.from]));
    }
    return { names, params, values: shown, lists };
  }

  /** The values plus the columns that fill themselves (see #prepareWrite). */
  #withAutomatic(given: object, kind: "insert" | "update" | "touch"): Record<string, unknown> {
    const values: Record<string, unknown> = { ...given };
    if (kind === "update" && !Object.values(values).some((v) => v !== undefined)) return values;
    const now = new Date();
    for (const column of this.#automatic) {
      if (values[column.name] !== undefined) continue;
      const auto: ColumnSchema["default"] =
        kind === "insert" ? column.default : column.onUpdateNow ? { now: true } : undefined;
      if (!auto) continue;
      values[column.name] = !auto.now
        ? auto.value
        : column.kind === "date"
          ? now.toISOString().slice(0, 10)
          : now;
    }
    return values;
  }

  /** Raw SQL in the form #compile takes. */
  #raw(query: RawBuilder<unknown>): { compile(): CompiledQuery } {
    return { compile: () => query.compile(this.#db) };
  }

  #compile(key: string, build: () => { compile(): CompiledQuery }): CompiledQuery {
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
  #run(
    compiled: CompiledQuery,
    parameters: readonly unknown[],
    rowsAsArrays = false,
  ): Maybe<QueryResult<unknown>> {
    // A literal, not a spread: one shape, and no copying loop, on every hot query.
    const { query, queryId, sql } = compiled;
    return this.#execute({ query, queryId, sql, parameters }, rowsAsArrays);
  }

  /** Runs a query; `rowsAsArrays` asks for array rows when it runs at once (executeNow). */
  #execute(query: CompiledQuery, rowsAsArrays = false): Maybe<QueryResult<unknown>> {
    const dialect = this.#context.dialect;
    if (query.parameters.length > dialect.maxParameters) {
      throw new TableError(
        "KILN_QUERY_TOO_LARGE",
        `A query on ${this.name} is too large for the database: ${query.parameters.length} values, where ${dialect.name} takes at most ${dialect.maxParameters} (fewer conditions, or several searches)`,
        { table: this.name },
      );
    }
    try {
      const now = dialect.executeNow(query, rowsAsArrays);
      if (now) return now;
    } catch (error) {
      throw this.#context.mapError(error, this);
    }
    return dialect.execute(query).catch((error: unknown) => {
      throw this.#context.mapError(error, this);
    });
  }

  async #rows(query: CompiledQuery): Promise<Record<string, unknown>[]> {
    return (await this.#execute(query)).rows as Record<string, unknown>[];
  }

  #unknownColumn(name: string): TableError {
    return new TableError(
      "KILN_UNKNOWN_COLUMN",
      `Table ${this.name} has no column "${name}"; columns: ${[...this.byName.keys()].join(", ")}`,
      { table: this.name, column: name },
    );
  }

  #deleted(row: RowImpl): TableError {
    return new TableError("KILN_ROW_DELETED", `Row ${row.id} of ${this.name} has been deleted`, {
      table: this.name,
    });
  }
}

/**
 * A checked write: the row's columns and their parameters, the values the row will show, and
 * the new lists of its `links` columns (target ids, each once; null clears).
 */
interface Write {
  readonly names: string[];
  readonly params: unknown[];
  readonly values: Record<string, unknown>;
  readonly lists: [ColumnSchema, number[] | null][];
}

/** A value now, or later: the hot paths skip a promise when the database answers at once. */
type Maybe<T> = T | Promise<T>;

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `{ a: 0, b: 1 }`: values whose compiled parameters are replaced on each run. */
function placeholders(names: readonly string[]): Record<string, number> {
  return Object.fromEntries(names.map((name, i) => [name, i]));
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
