/** Where a row lives: its table and ids. Every Row carries one under ROW_REF. */
export interface RowRef {
  readonly table: string;
  readonly tableId: number;
  readonly rowId: number;
}

export const ROW_REF = Symbol.for("kiln.RowRef");

/** The table and ids of a Row, or null for anything that is not a row. */
export function rowRef(value: unknown): RowRef | null {
  if (typeof value !== "object" || value === null) return null;
  return (value as { [ROW_REF]?: RowRef })[ROW_REF] ?? null;
}

const ROW_ID = /^\[(\d{1,15}),(\d{1,15})\]$/;

/** `"[23,567]"`: table id 23, row id 567. The format users see, in URLs and JSON. */
export function formatRowId(tableId: number, rowId: number): string {
  return `[${tableId},${rowId}]`;
}

/** The two numbers of a row id, or null when the text is not one. */
export function parseRowId(id: unknown): { tableId: number; rowId: number } | null {
  if (typeof id !== "string") return null;
  const match = ROW_ID.exec(id);
  if (!match) return null;
  return { tableId: Number(match[1]), rowId: Number(match[2]) };
}
