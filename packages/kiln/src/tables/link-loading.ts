import { sql } from "kysely";
import { resolveLinks } from "./links.ts";
import { groupLinkLists, linkListsQuery } from "./links-store.ts";
import { linksTable, physicalTable } from "./names.ts";
import { type RowImpl, VALUES } from "./row.ts";
import { type RowRef, rowRef } from "./row-ref.ts";
import type { ColumnSchema } from "./schema.ts";
import type { TableImpl, TablesContext } from "./table.ts";
import type { Maybe, TableQueries } from "./table-queries.ts";

/**
 * Follows the links of one table's rows as they are read: `link` columns through resolveLinks,
 * `links` lists from their join tables, one query per column for a whole page of rows.
 */
export class LinkLoader {
  readonly #table: TableImpl;
  readonly #queries: TableQueries;
  readonly #context: TablesContext;
  /** `links` columns: each is a join table, not a column of the row. */
  readonly #lists: readonly ColumnSchema[];

  constructor(table: TableImpl, queries: TableQueries, context: TablesContext) {
    this.#table = table;
    this.#queries = queries;
    this.#context = context;
    this.#lists = table.columns.filter((c) => c.kind === "links");
  }

  /** Whether the table has `links` columns (to skip loadLists when it has none). */
  get hasLists(): boolean {
    return this.#lists.length > 0;
  }

  /** Rows with their links followed (see TableImpl.loadRows). */
  linked(rows: RowImpl[], linkRows: ReadonlyMap<string, RowImpl>): Maybe<RowImpl[]> {
    let columns = this.#table.linkColumns;
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
    const tableId = this.#table.tableId;
    for (const column of this.#lists) {
      const target = this.#context.table(column.target!);
      const compiled = this.#queries.compile(`linked:${column.name}`, () => {
        const links = sql.table(linksTable(tableId, column.name));
        const selected = target.selectedColumns.map((name) => sql.ref(`t.${name}`));
        const owners = dialect.inList(sql.ref("l.row_id"), "id", []);
        // `_kiln_row`: no column of the app's can start with an underscore.
        return this.#queries.raw(
          sql`select l.row_id as _kiln_row, ${sql.join(selected)} from ${links} as l join ${sql.table(physicalTable(target.name))} as t on t.id = l.target_id where ${owners} order by l.row_id, l.position, l.target_id`,
        );
      });
      const run = this.#queries.run(compiled, [dialect.listParam(ids)]);
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

  /** Fills the rows' `links` lists with target ids, from the join tables: a query per column. */
  async loadLists(rows: readonly RowImpl[]): Promise<void> {
    const ids = rows.map((row) => rowRef(row)!.rowId);
    const dialect = this.#context.dialect;
    for (const column of this.#lists) {
      // The ids are one parameter (Dialect.listParam): the SQL is the same for every page.
      const compiled = this.#queries.compile(`lists:${column.name}`, () =>
        this.#queries.raw(
          linkListsQuery(dialect, linksTable(this.#table.tableId, column.name), []),
        ),
      );
      const run = this.#queries.run(compiled, [dialect.listParam(ids)]);
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
}
