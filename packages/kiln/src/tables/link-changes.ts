import { type CompiledQuery, sql } from "kysely";
import { KilnError } from "../errors.ts";
import { describe, details, storedValue } from "./column-values.ts";
import type { Dialect } from "./dialect.ts";
import { TableError, unknownColumn } from "./errors.ts";
import { insertLinksQuery } from "./links-store.ts";
import { linksTable, physicalTable } from "./names.ts";
import { type RowImpl, VALUES } from "./row.ts";
import { rowRef } from "./row-ref.ts";
import type { ColumnSchema } from "./schema.ts";
import type { TableImpl } from "./table.ts";
import type { TableQueries } from "./table-queries.ts";

/** Link rows per INSERT into a join table (one parameter holds them all). */
const LINKS_PER_INSERT = 10_000;

/** What a change of links needs of its table beyond its queries. */
export interface LinkedTable {
  /** Sets the `onUpdate: now` columns of a row whose links changed. */
  touch(row: RowImpl): Promise<void>;
  /** KILN_ROW_DELETED unless the row is still there. */
  checkExists(row: RowImpl): Promise<void>;
}

/**
 * The writes of one table's `links` columns, which live in join tables (names.ts,
 * linksTable): whole lists inserted with the row or an update, and single links added,
 * removed and counted in one statement each (addLink, removeLink, countLinks).
 */
export class LinkChanges {
  readonly #table: TableImpl;
  readonly #queries: TableQueries;
  readonly #dialect: Dialect;
  readonly #owner: LinkedTable;
  /** Whether a change of a links list alone (addLink) sets `onUpdate: now` columns. */
  readonly #touches: boolean;

  constructor(table: TableImpl, queries: TableQueries, dialect: Dialect, owner: LinkedTable) {
    this.#table = table;
    this.#queries = queries;
    this.#dialect = dialect;
    this.#owner = owner;
    this.#touches = table.columns.some((c) => c.onUpdateNow);
  }

  /** Inserts link rows of a `links` column, LINKS_PER_INSERT at a time. */
  async insert(column: ColumnSchema, rows: readonly (readonly [number, number, number])[]) {
    const links = linksTable(this.#table.tableId, column.name);
    const target = physicalTable(column.target!);
    for (let i = 0; i < rows.length; i += LINKS_PER_INSERT) {
      const chunk = rows.slice(i, i + LINKS_PER_INSERT);
      await this.#queries.execute(
        insertLinksQuery(this.#dialect, links, target, chunk).compile(this.#queries.db),
      );
    }
  }

  /** Deletes every link of a row's `links` column (its list is replaced). */
  async clear(column: ColumnSchema, rowId: number): Promise<void> {
    const links = sql.table(linksTable(this.#table.tableId, column.name));
    await this.#queries.execute(
      sql`delete from ${links} where row_id = ${rowId}`.compile(this.#queries.db),
    );
  }

  /**
   * One statement inserts (or deletes) the link's row in the join table, so concurrent changes
   * never undo each other; then `onUpdate: now` columns are set, if the list changed (both in
   * one transaction, at read committed so that concurrent adds to one row wait for each other
   * instead of failing), and the row's loaded list follows. Nothing changed: the row may be
   * gone (KILN_ROW_DELETED), or the list already was as asked.
   */
  async change(
    method: "addLink" | "removeLink",
    row: unknown,
    column: string,
    linked: unknown,
  ): Promise<void> {
    const { ref, links, linkedId } = this.#checked(method, row, column, linked);
    const dialect = this.#dialect;
    const adding = method === "addLink";
    const change = async () => {
      const compiled = adding ? this.#addLinkQuery(links) : this.#removeLinkQuery(links);
      const params = adding
        ? [ref.rowId, linkedId, ref.rowId, ref.rowId, linkedId]
        : [ref.rowId, linkedId];
      const run = this.#queries.run(compiled, params);
      const result = run instanceof Promise ? await run : run;
      if (result.numAffectedRows === 0n) return this.#owner.checkExists(row as RowImpl);
      if (this.#touches) await this.#owner.touch(row as RowImpl);
    };
    const joined = dialect.inTransaction();
    try {
      if (this.#touches && !joined) {
        await dialect.transaction(change, { isolationLevel: "read committed" });
      } else {
        await change();
      }
    } catch (error) {
      // A row deleted by a transaction that committed while the INSERT waited for its lock:
      // it passed the statement's EXISTS, then the foreign key refused the link. As if the
      // delete had come first: KILN_ROW_DELETED if it was the row, nothing if the linked row.
      // (Inside the caller's transaction, the database has made it a retried conflict.)
      const cause = error instanceof KilnError ? error.cause : error;
      if (!adding || joined || !dialect.isMissingReference(cause)) throw error;
      await this.#owner.checkExists(row as RowImpl);
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
    return this.#queries.compile(`addLink:${links.name}`, () => {
      const table = sql.table(linksTable(this.#table.tableId, links.name));
      const target = sql.table(physicalTable(links.target!));
      const [rowId, linkedId, positionOf, rowAgain, linkedAgain] = [0, 1, 2, 3, 4];
      return this.#queries.raw(sql`insert into ${table} (row_id, target_id, position)
        select cast(${rowId} as bigint), cast(${linkedId} as bigint), (select coalesce(max(position), 0) + 1 from ${table} where row_id = ${positionOf})
        where exists (select 1 from ${sql.table(physicalTable(this.#table.name))} where id = ${rowAgain})
        and exists (select 1 from ${target} where id = ${linkedAgain})
        on conflict do nothing`);
    });
  }

  #removeLinkQuery(links: ColumnSchema): CompiledQuery {
    return this.#queries.compile(`removeLink:${links.name}`, () => {
      const table = sql.table(linksTable(this.#table.tableId, links.name));
      return this.#queries.raw(sql`delete from ${table} where row_id = ${0} and target_id = ${1}`);
    });
  }

  /**
   * The number of rows a `links` column of the row links to, in one indexed query: the join
   * table holds links between existing rows only (0 for a deleted row).
   */
  async count(row: unknown, column: string): Promise<number> {
    const { ref, links } = this.#checked("countLinks", row, column, undefined);
    const compiled = this.#queries.compile(`countLinks:${links.name}`, () => {
      const table = sql.table(linksTable(this.#table.tableId, links.name));
      return this.#queries.raw(sql`select count(*) as n from ${table} where row_id = ${0}`);
    });
    const run = this.#queries.run(compiled, [ref.rowId]);
    const result = run instanceof Promise ? await run : run;
    return Number((result.rows[0] as { n: unknown } | undefined)?.n ?? 0);
  }

  /** Checks the arguments of addLink, removeLink and countLinks. */
  #checked(method: string, row: unknown, column: string, linked: unknown) {
    const table = this.#table;
    const ref = rowRef(row);
    if (!ref || ref.tableId !== table.tableId) {
      throw new TableError(
        "KILN_BAD_VALUE",
        `${table.name}.${method}(row, ...): expected a row of ${table.name}, got ${describe(row)}`,
        { table: table.name },
      );
    }
    const links = table.byName.get(column);
    if (!links) throw unknownColumn(table, column);
    if (links.kind !== "links") {
      throw new TableError(
        "KILN_BAD_QUERY",
        `${table.name}.${method}: ${column} is a ${links.type} column, not links`,
        details(table.name, links),
      );
    }
    const linkedId =
      linked === undefined ? 0 : (storedValue(table.name, links, [linked]) as number[])[0]!;
    return { ref, links, linkedId };
  }
}
