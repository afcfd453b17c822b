import { isMedia } from "../http/media.ts";
import { TableError } from "./errors.ts";
import { encodeMedia } from "./media-codec.ts";
import { rowRef } from "./row-ref.ts";
import type { ColumnSchema } from "./schema.ts";

/** In a `u` regex a surrogate pair is one code point, so this matches unpaired halves only. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Checks a value for a column and turns it into Kiln's stored form, the same on every
 * backend (the dialect then maps it to the driver's): date → "YYYY-MM-DD", datetime → Date,
 * object → JSON text with sorted keys, media → encoded bytes, link → row id, links → row ids.
 * A value of the wrong type is a KILN_BAD_VALUE error naming table, column and type.
 */
export function storedValue(table: string, column: ColumnSchema, value: unknown): unknown {
  if (value === null) return null;
  switch (column.kind) {
    case "text":
      // PostgreSQL text cannot hold U+0000, so no backend takes it. A lone surrogate is not
      // Unicode at all: each backend would store U+FFFD instead (one, or three), silently.
      if (typeof value === "string" && !value.includes("\0") && !LONE_SURROGATE.test(value)) {
        return value;
      }
      break;
    case "number":
      if (typeof value === "number" && Number.isFinite(value)) return value;
      break;
    case "bool":
      if (typeof value === "boolean") return value;
      break;
    case "date": {
      const date = toDate(value);
      if (date !== null) return date;
      break;
    }
    case "datetime": {
      const datetime = toDatetime(value);
      if (datetime !== null) return datetime;
      break;
    }
    case "object": {
      const json = canonicalJson(value);
      if (json !== null && !/(^|[^\\])(\\\\)*\\u0000/.test(json)) return json;
      break;
    }
    case "media":
      if (isMedia(value)) return encodeMedia(value);
      break;
    case "link":
      return linkedRowId(table, column, value);
    case "links":
      if (Array.isArray(value)) return value.map((row) => linkedRowId(table, column, row));
      break;
  }
  throw badValue(table, column, value);
}

/** The id of a linked row, checking that it is a row of the column's table. */
function linkedRowId(table: string, column: ColumnSchema, value: unknown): number {
  const ref = rowRef(value);
  if (!ref) throw badValue(table, column, value);
  if (ref.table !== column.target) {
    throw new TableError(
      "KILN_BAD_VALUE",
      `${table}.${column.name} is ${column.type}: got a row of table "${ref.table}"`,
      details(table, column),
    );
  }
  return ref.rowId;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** "YYYY-MM-DD" for a valid calendar date string, or a Date's UTC date; else null. */
function toDate(value: unknown): string | null {
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? null : value.toISOString().slice(0, 10);
  }
  if (typeof value !== "string") return null;
  const match = DATE.exec(value);
  if (!match) return null;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value) ? value : null;
}

// An ISO 8601 date and time with an explicit offset: a datetime is an instant, and a string
// without an offset would mean something different on each server.
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function toDatetime(value: unknown): Date | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value;
  if (typeof value === "string" && ISO_DATETIME.test(value)) {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? null : date;
  }
  return null;
}

/** JSON text with object keys sorted at every level, so equal values give equal text. */
export function canonicalJson(value: unknown): string | null {
  let plain: unknown;
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return null;
    plain = JSON.parse(text);
  } catch {
    return null; // a BigInt, a cycle
  }
  return JSON.stringify(sortKeys(plain));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  // fromEntries defines own properties: assigning `sorted["__proto__"] = ...` would run the
  // prototype setter instead, and the key (a legal JSON key) would vanish from the stored value.
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}

export function badValue(table: string, column: ColumnSchema, value: unknown): TableError {
  return new TableError(
    "KILN_BAD_VALUE",
    `${table}.${column.name} is ${column.type} (${EXPECTED[column.kind]}): got ${describe(value)}`,
    details(table, column),
  );
}

export function details(table: string, column: ColumnSchema) {
  return { table, column: column.name, columnType: column.type };
}

const EXPECTED: Record<ColumnSchema["kind"], string> = {
  text: "a string of valid Unicode without U+0000",
  number: "a finite number",
  bool: "true or false",
  date: 'a "YYYY-MM-DD" string or a Date',
  datetime: "a Date or an ISO 8601 string with an offset",
  object: "a JSON value",
  media: "a Media",
  link: "a row of the linked table, or null",
  links: "an array of rows of the linked table",
};

/** A short description of a value for an error message, without dumping it. */
export function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "an invalid Date" : "a Date";
  if (Array.isArray(value)) return "an array";
  const ref = rowRef(value);
  if (ref) return `a row of ${ref.table}`;
  return `a ${typeof value}`;
}
