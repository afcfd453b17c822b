import { type RowImpl, VALUES } from "./row.ts";
import type { ColumnSchema } from "./schema.ts";
import type { TableImpl } from "./table.ts";

/**
 * Replaces the row ids of link columns with the linked rows, for a page of rows at once: one
 * `id IN (...)` query per linked table, however many rows link to it. A link to a row that
 * has since been deleted reads as null, and a `links` list leaves such rows out; the stored
 * ids stay until the row is next written.
 */
export async function resolveLinks(
  linkColumns: readonly ColumnSchema[],
  rows: readonly RowImpl[],
  tableNamed: (name: string) => TableImpl,
): Promise<void> {
  const wanted = new Map<TableImpl, Set<number>>();
  for (const column of linkColumns) {
    const target = tableNamed(column.target!);
    const ids = wanted.get(target) ?? new Set<number>();
    wanted.set(target, ids);
    for (const row of rows) {
      const value = row[VALUES]![column.name];
      if (value === null || value === undefined) continue;
      if (column.kind === "link") ids.add(value as number);
      else for (const id of value as number[]) ids.add(id);
    }
  }
  const found = new Map<TableImpl, Map<number, RowImpl>>();
  for (const [target, ids] of wanted) {
    found.set(target, ids.size ? await target.rowsByIds([...ids]) : new Map());
  }
  for (const column of linkColumns) {
    const linked = found.get(tableNamed(column.target!))!;
    for (const row of rows) {
      const values = row[VALUES]!;
      const value = values[column.name];
      if (column.kind === "link") {
        values[column.name] = value === null ? null : (linked.get(value as number) ?? null);
      } else {
        values[column.name] = ((value ?? []) as number[])
          .map((id) => linked.get(id))
          .filter((r): r is RowImpl => r !== undefined);
      }
    }
  }
}
