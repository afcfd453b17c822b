import { BlobMedia, type Media } from "../http/media.ts";
import { TableError } from "./errors.ts";
import { type RowImpl, VALUES } from "./row.ts";
import { parseRowId, ROW_REF } from "./row-ref.ts";
import type { ColumnSchema } from "./schema.ts";

/** Options of `toCsv()`, `kiln tables export` and `kiln tables import`. */
export interface CsvOptions {
  /**
   * Text exactly as stored: no `'` before text that a spreadsheet would run as a formula
   * (on export), none taken away (on import). For files that never meet a spreadsheet.
   */
  raw?: boolean;
}

/**
 * Text a spreadsheet (Excel, LibreOffice, Google Sheets) would take for a formula: starting
 * with `=`, `+`, `-`, `@`, a tab or a carriage return (OWASP's "CSV injection"), after any
 * apostrophes already there, so that adding one is always undone exactly.
 */
const FORMULA = /^'*[=+\-@\t\r]/;

/** Text as exported: a `'` before what a spreadsheet would run, so it shows as text. */
export function neutraliseFormula(text: string): string {
  return FORMULA.test(text) ? `'${text}` : text;
}

/** Undoes `neutraliseFormula` (import): the one `'` it added goes. */
export function restoreFormula(text: string): string {
  return text.startsWith("'") && FORMULA.test(text) ? text.slice(1) : text;
}

/**
 * CSV as Kiln writes and reads it (RFC 4180, `\n` line ends): a header row `id,col,...`,
 * then one row per line. Cells: null is an empty unquoted cell, an empty string is `""`;
 * bool `true`/`false`; datetime ISO 8601; object JSON; link the linked row's id; links a JSON
 * list of ids; media a `data:` URL (base64). Secret columns are not exported. Text that a
 * spreadsheet would run as a formula gets a `'` in front unless `raw` (see CsvOptions).
 */
export function csvHeader(columns: readonly ColumnSchema[]): string {
  return line(["id", ...exported(columns).map((c) => c.name)]);
}

export function csvRow(columns: readonly ColumnSchema[], row: RowImpl, raw = false): string {
  const values = row[VALUES]!;
  return line([
    row.id,
    ...exported(columns).map((c) => {
      const cell = csvCell(c, values[c.name]);
      return cell !== null && c.kind === "text" && !raw ? neutraliseFormula(cell) : cell;
    }),
  ]);
}

function exported(columns: readonly ColumnSchema[]): readonly ColumnSchema[] {
  return columns.filter((c) => !c.secret);
}

function line(cells: readonly (string | null)[]): string {
  return `${cells.map((cell) => (cell === null ? "" : quote(cell))).join(",")}\n`;
}

function quote(cell: string): string {
  return cell === "" || /[",\r\n]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}

/** A column value as CSV text, or null for an empty cell. */
export function csvCell(column: ColumnSchema, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (column.kind) {
    case "datetime":
      return (value as Date).toISOString();
    case "object":
      return JSON.stringify(value);
    case "media": {
      const media = value as Media;
      const name = media.name === null ? "" : `;name=${encodeURIComponent(media.name)}`;
      return `data:${media.contentType}${name};base64,${media.getBytes().toString("base64")}`;
    }
    case "link":
      return (value as RowImpl).id;
    case "links":
      return JSON.stringify((value as RowImpl[]).map((row) => row.id));
    default:
      return String(value);
  }
}

/** One parsed cell: its text, and whether it was quoted (`""` is an empty string, not null). */
export interface CsvCell {
  readonly text: string;
  readonly quoted: boolean;
}

const DATA_URL = /^data:([^,]*?)(?:;name=([^;,]*))?;base64,(.*)$/s;

/**
 * A CSV cell as a value for the column (then checked by the table like any value). Links
 * are given as row ids of the linked table (`tableId` is its id), and must name that table.
 */
export function cellValue(
  column: ColumnSchema,
  cell: CsvCell,
  tableId: number,
  where: string,
  raw = false,
): unknown {
  const { text, quoted } = cell;
  if (text === "" && !(quoted && column.kind === "text")) return null;
  const bad = (expected: string) =>
    new TableError(
      "KILN_BAD_CSV",
      `${where}: ${column.name} is ${column.type}: expected ${expected}, got ${JSON.stringify(text.slice(0, 40))}`,
      { column: column.name, columnType: column.type },
    );
  switch (column.kind) {
    case "text":
      return raw ? text : restoreFormula(text);
    case "date":
    case "datetime":
      return text;
    case "number": {
      const n = Number(text);
      if (!Number.isFinite(n) || text.trim() === "") throw bad("a number");
      return n;
    }
    case "bool":
      if (/^(true|1)$/i.test(text)) return true;
      if (/^(false|0)$/i.test(text)) return false;
      throw bad("true or false");
    case "object":
      try {
        return JSON.parse(text);
      } catch {
        throw bad("JSON");
      }
    case "media": {
      const match = DATA_URL.exec(text);
      if (!match) throw bad("a data: URL");
      const name = match[2] === undefined ? null : decodeURIComponent(match[2]);
      return new BlobMedia(
        match[1] || "application/octet-stream",
        Buffer.from(match[3]!, "base64"),
        name,
      );
    }
    case "link":
      return linkRef(column, text, tableId, () => bad(`a row id of ${column.target}`));
    case "links": {
      let ids: unknown;
      try {
        ids = JSON.parse(text);
      } catch {
        throw bad("a JSON list of row ids");
      }
      if (!Array.isArray(ids)) throw bad("a JSON list of row ids");
      return ids.map((id) =>
        linkRef(column, id, tableId, () => bad(`row ids of ${column.target}`)),
      );
    }
  }
}

/** A reference to a linked row by id, accepted by the table as a link value. */
function linkRef(column: ColumnSchema, id: unknown, tableId: number, bad: () => Error) {
  const parsed = parseRowId(id);
  if (!parsed || parsed.tableId !== tableId) throw bad();
  return { [ROW_REF]: { table: column.target!, tableId, rowId: parsed.rowId } };
}

/**
 * Parses CSV text arriving in chunks, yielding each record with its line number. Handles
 * quoted cells with commas, quotes and line breaks, and `\n` or `\r\n` line ends.
 */
export async function* parseCsv(
  chunks: AsyncIterable<string | Buffer>,
): AsyncGenerator<{ cells: CsvCell[]; line: number }> {
  let cells: CsvCell[] = [];
  let text = "";
  let quoted = false;
  let inQuotes = false;
  let afterQuote = false;
  let line = 1;
  let recordLine = 1;
  let pendingCr = false;
  let carry = "";
  const decoder = new TextDecoder();
  const endCell = () => {
    cells.push({ text, quoted });
    text = "";
    quoted = false;
    afterQuote = false;
  };
  for await (const chunk of chunks) {
    const input =
      carry + (typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    carry = "";
    const records: { cells: CsvCell[]; line: number }[] = [];
    for (let i = 0; i < input.length; i++) {
      const ch = input[i]!;
      if (pendingCr) {
        pendingCr = false;
        if (ch === "\n") continue;
      }
      if (inQuotes) {
        if (ch !== '"') {
          if (ch === "\n") line++;
          text += ch;
        } else if (i + 1 === input.length) {
          carry = '"'; // `"` or `""`? The next chunk decides.
        } else if (input[i + 1] === '"') {
          text += '"';
          i++;
        } else {
          inQuotes = false;
          afterQuote = true;
        }
        continue;
      }
      if (ch === '"' && text === "" && !quoted) {
        inQuotes = true;
        quoted = true;
      } else if (ch === ",") {
        endCell();
      } else if (ch === "\n" || ch === "\r") {
        endCell();
        records.push({ cells, line: recordLine });
        cells = [];
        line++;
        recordLine = line;
        pendingCr = ch === "\r";
      } else {
        if (afterQuote) throw csvError(line, "text after a closing quote");
        text += ch;
      }
    }
    yield* records;
  }
  if (carry) inQuotes = false;
  if (inQuotes) throw csvError(recordLine, "a quoted cell is not closed");
  if (text !== "" || quoted || cells.length) {
    endCell();
    yield { cells, line: recordLine };
  }
}

function csvError(line: number, problem: string): TableError {
  return new TableError("KILN_BAD_CSV", `CSV line ${line}: ${problem}`);
}
