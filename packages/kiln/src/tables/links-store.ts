import { type RawBuilder, sql } from "kysely";
import type { Dialect } from "./dialect.ts";

/**
 * The SQL of `links` columns, stored in join tables (names.ts, linksTable): one row per link,
 * `(row_id, target_id, position)`. Shared by the table's reads and writes and the retype.
 */

/** The links of these rows, in list order: rows of `row_id, target_id`. */
export function linkListsQuery(
  dialect: Dialect,
  links: string,
  rowIds: readonly number[],
): RawBuilder<{ row_id: unknown; target_id: unknown }> {
  // Two links added at once on PostgreSQL may share a position: the target id decides then.
  return sql`select row_id, target_id from ${sql.table(links)} where ${dialect.inList(sql.ref("row_id"), "id", [...rowIds])} order by row_id, position, target_id`;
}

/** Row id → its list of target ids, from the rows of linkListsQuery. */
export function groupLinkLists(
  rows: readonly { row_id: unknown; target_id: unknown }[],
): Map<number, number[]> {
  const lists = new Map<number, number[]>();
  for (const row of rows) {
    const rowId = Number(row.row_id);
    const list = lists.get(rowId);
    if (list) list.push(Number(row.target_id));
    else lists.set(rowId, [Number(row.target_id)]);
  }
  return lists;
}

/**
 * Inserts link rows `[row_id, target_id, position]`, one statement whatever their number. A
 * link to a row that no longer exists is left out: it would read as absent anyway, and the
 * join table only holds links between existing rows (see Dialect.createLinksTable).
 */
export function insertLinksQuery(
  dialect: Dialect,
  links: string,
  target: string,
  rows: readonly (readonly [number, number, number])[],
): RawBuilder<unknown> {
  return sql`insert into ${sql.table(links)} (row_id, target_id, position) select v.row_id, v.target_id, v.position from ${dialect.linkRows(rows)} as v where exists (select 1 from ${sql.table(target)} as t where t.id = v.target_id) on conflict do nothing`;
}

/** The link rows of lists given in full: positions 1, 2, ... in the order given. */
export function linkRowsOf(rowId: number, targets: readonly number[]): [number, number, number][] {
  return targets.map((target, i) => [rowId, target, i + 1]);
}
