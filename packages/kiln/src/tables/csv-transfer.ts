import { type CsvOptions, cellValue, csvHeader, csvRow, parseCsv } from "./csv.ts";
import { TableError } from "./errors.ts";
import { formatRowId, rowRef } from "./row-ref.ts";
import type { SearchResultImpl } from "./search-result.ts";
import type { TableImpl } from "./table.ts";

/**
 * A table as CSV text, a page of rows per chunk: what `kiln tables export` streams, so a big
 * table never sits in memory whole.
 */
export async function* exportCsv(
  table: TableImpl,
  options: CsvOptions = {},
): AsyncGenerator<string> {
  yield csvHeader(table.columns);
  for await (const page of (table.search() as SearchResultImpl).pages()) {
    yield page.map((row) => csvRow(table.columns, row, options.raw)).join("");
  }
}

/** Rows between progress reports of `importCsv`. */
export const PROGRESS_EVERY = 10_000;

/**
 * Adds the rows of a CSV file (header row first, as exportCsv writes it) to a table. Call it
 * inside a transaction: the import is then all or nothing. The `id` column is ignored (rows get
 * new ids); link cells are row ids of existing rows of the linked table. A bad line (a link to
 * a row that does not exist included) is KILN_BAD_CSV naming the line and column. The `'` that the export put before formula-like text is taken away unless
 * `raw`. Returns the number of rows added.
 */
export async function importCsv(
  table: TableImpl,
  linkedTable: (name: string) => TableImpl,
  chunks: AsyncIterable<string | Buffer>,
  onProgress?: (rows: number) => void,
  options: CsvOptions = {},
): Promise<number> {
  let header: (string | null)[] | null = null;
  let added = 0;
  let batch: { values: Record<string, unknown>; line: number }[] = [];
  const flush = async () => {
    await addBatch(table, batch, linkedTable);
    const before = added;
    added += batch.length;
    batch = [];
    if (onProgress && Math.floor(added / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY)) {
      onProgress(added - (added % PROGRESS_EVERY));
    }
  };
  for await (const { cells, line } of parseCsv(chunks)) {
    if (!header) {
      header = cells.map(({ text }) => headerColumn(table, text));
      continue;
    }
    if (cells.length === 1 && cells[0]!.text === "" && !cells[0]!.quoted) continue; // blank line
    if (cells.length !== header.length) {
      throw new TableError(
        "KILN_BAD_CSV",
        `CSV line ${line}: ${cells.length} cells, but the header has ${header.length}`,
        { table: table.name },
      );
    }
    const values: Record<string, unknown> = {};
    header.forEach((name, i) => {
      if (name === null) return;
      const column = table.byName.get(name)!;
      const target = column.target ? linkedTable(column.target).tableId : 0;
      values[name] = cellValue(column, cells[i]!, target, `CSV line ${line}`, options.raw);
    });
    batch.push({ values, line });
    if (batch.length === BATCH) await flush();
  }
  if (batch.length) await flush();
  return added;
}

/** Rows per addRows call of an import. */
const BATCH = 500;

function headerColumn(table: TableImpl, text: string): string | null {
  if (text === "id") return null;
  if (table.byName.has(text)) return text;
  throw new TableError(
    "KILN_BAD_CSV",
    `CSV header: table ${table.name} has no column "${text}" (columns: id, ${[...table.byName.keys()].join(", ")})`,
    { table: table.name, column: text },
  );
}

/** addRows, with a bad value reported by its CSV line. */
async function addBatch(
  table: TableImpl,
  batch: { values: Record<string, unknown>; line: number }[],
  linkedTable: (name: string) => TableImpl,
) {
  await checkLinks(table, batch, linkedTable);
  for (const { values, line } of batch) {
    try {
      table.checkValues(values);
    } catch (error) {
      if (!(error instanceof TableError) || error.code !== "KILN_BAD_VALUE") throw error;
      throw new TableError("KILN_BAD_CSV", `CSV line ${line}: ${error.message}`, error, {
        cause: error,
      });
    }
  }
  await table.addRows(batch.map((b) => b.values));
}

/**
 * Refuses a batch whose link cells name rows that do not exist, at the first such line: the
 * table would store the dangling id without a word (a link to a since-deleted row reads as
 * null), so a typo or an export from another database would lose the link silently. One
 * query per linked table and batch.
 */
async function checkLinks(
  table: TableImpl,
  batch: { values: Record<string, unknown>; line: number }[],
  linkedTable: (name: string) => TableImpl,
) {
  const columns = table.columns.filter((column) => column.target);
  for (const column of columns) {
    const refsOf = (values: Record<string, unknown>) => {
      const value = values[column.name];
      return (Array.isArray(value) ? value : [value]).map(rowRef).filter((ref) => ref !== null);
    };
    const wanted = new Set<number>();
    for (const { values } of batch) for (const ref of refsOf(values)) wanted.add(ref.rowId);
    if (wanted.size === 0) continue;
    const target = linkedTable(column.target!);
    const found = await target.existingIds([...wanted]);
    for (const { values, line } of batch) {
      const missing = refsOf(values).find((ref) => !found.has(ref.rowId));
      if (!missing) continue;
      throw new TableError(
        "KILN_BAD_CSV",
        `CSV line ${line}: ${column.name} links to ${formatRowId(target.tableId, missing.rowId)}, but ${target.name} has no such row`,
        { table: table.name, column: column.name },
      );
    }
  }
}
