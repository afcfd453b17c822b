import { ConfigError } from "../errors.ts";
import { storedValue } from "./column-values.ts";

/** The kinds of column a data table can have. */
export type ColumnKind =
  | "text"
  | "number"
  | "bool"
  | "date"
  | "datetime"
  | "object"
  | "media"
  | "link"
  | "links";

const KINDS = new Set<string>(["text", "number", "bool", "date", "datetime", "object", "media"]);

/** One column of a data table, as declared in kiln.yaml or built in (see BuiltInTable). */
export interface ColumnSchema {
  readonly name: string;
  readonly kind: ColumnKind;
  /** The linked table of a `link`/`links` column, else null. */
  readonly target: string | null;
  /** The declared type as written: `"text"`, `"link users"`. */
  readonly type: string;
  /** Whether an index is kept on the column (always for `link`). */
  readonly indexed: boolean;
  /** Left out of `toJSON()` and CSV exports (the users' password hash). */
  readonly secret: boolean;
  /** `unique: true`: no two rows have the same (non-null) value; a unique index enforces it. */
  readonly unique?: boolean;
  /**
   * `default:` what addRow writes when the column is left out: `"now"` (the time of the write,
   * for date and datetime columns) or a constant; undefined when none.
   */
  readonly default?: { readonly now: true } | { readonly now: false; readonly value: unknown };
  /** `onUpdate: now`: every update sets the column to the time of the write, unless given. */
  readonly onUpdateNow?: boolean;
  /**
   * Built-in text columns only (e.g. the users' email): the value to store for a string
   * written to the column, or null to refuse it (KILN_BAD_VALUE). Applies on every write path.
   */
  readonly normalise?: (value: string) => string | null;
  /** What `normalise` expects, for the refusal's message. */
  readonly expected?: string;
}

/** Columns whose values, taken together, no two rows may share (a unique index). */
export interface UniqueConstraint {
  readonly columns: readonly string[];
}

/**
 * A column the app never sees, kept up to date by Kiln from a visible one: e.g. the
 * lower-cased email of `users`, which carries the case-insensitive unique index.
 */
export interface InternalColumn {
  /** Starts with `_`, which kiln.yaml's column names cannot. */
  readonly name: string;
  /** The visible column it is derived from. */
  readonly from: string;
  /** Its value for a value of `from`, on every write of `from`. */
  readonly derive: (value: unknown) => unknown;
  /** A unique index is kept on it: two values of `from` that derive the same clash. */
  readonly unique: boolean;
  /**
   * Added in parentheses to KILN_DUPLICATE_VALUE's message when its unique index refuses a
   * write, to say why two different values clashed ("emails are compared ignoring case").
   */
  readonly duplicateNote?: string;
}

/**
 * A table every app has, declared by the capability that keeps its data there (the Users
 * service declares `users`) and handed to the tables service by whoever builds the app. It
 * exists even when kiln.yaml does not declare it; kiln.yaml may add columns of its own (after
 * the built-in ones) and restate a built-in column with the same type, but not retype it.
 */
export interface BuiltInTable {
  readonly name: string;
  /** Its built-in columns, first and in this order. */
  readonly columns: readonly ColumnSchema[];
  /** Columns the app never sees, derived from visible ones. */
  readonly internals: readonly InternalColumn[];
}

export interface TableSchema {
  readonly name: string;
  readonly columns: readonly ColumnSchema[];
  readonly byName: ReadonlyMap<string, ColumnSchema>;
  readonly internals: readonly InternalColumn[];
  /** `unique: true` columns and the table's `unique:` lists, each enforced by a unique index. */
  readonly uniques: readonly UniqueConstraint[];
}

export type Schema = ReadonlyMap<string, TableSchema>;

// Same rules on every backend: SQLite folds identifier case, so names are compared
// case-insensitively too; a leading underscore is kept for Kiln's internal columns.
const NAME = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
const RESERVED_COLUMNS = new Set(["id", "update", "delete", "equals", "toJSON", "then"]);
/** `tables.get(name)` is the accessor's own method. */
const RESERVED_TABLES = new Set(["get", "then"]);

/** Column kinds a unique index can hold (a media is bytes, `links` a list). */
const UNIQUE_KINDS = new Set(["text", "number", "bool", "date", "datetime", "object", "link"]);

/**
 * Parses one column: `"text"`, `"link users"`, `{ type: "text", index: true, unique: true }`,
 * `{ type: "datetime", default: "now", onUpdate: "now" }`.
 */
export function parseColumn(table: string, name: string, spec: unknown): ColumnSchema {
  const parsed = parseColumnType(table, name, spec);
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) return parsed;
  const where = `tables.${table}.${name}`;
  const { unique, default: given, onUpdate } = spec as Record<string, unknown>;
  if (unique !== undefined && typeof unique !== "boolean") {
    throw badConfig([table, name, "unique"], `${where}: unique must be true or false`);
  }
  if (unique && !UNIQUE_KINDS.has(parsed.kind)) {
    throw badConfig([table, name, "unique"], `${where}: a ${parsed.type} column cannot be unique`);
  }
  const timed = parsed.kind === "date" || parsed.kind === "datetime";
  let defaultValue: ColumnSchema["default"];
  if (given === "now") {
    if (!timed)
      throw badConfig(
        [table, name, "default"],
        `${where}: default: now is for date and datetime columns`,
      );
    defaultValue = { now: true };
  } else if (given !== undefined && given !== null) {
    if (!["text", "number", "bool"].includes(parsed.kind) || typeof given === "object") {
      throw badConfig(
        [table, name, "default"],
        `${where}: default must be now (date, datetime) or a constant (text, number, bool)`,
      );
    }
    try {
      defaultValue = { now: false, value: storedValue(table, parsed, given) };
    } catch (error) {
      throw badConfig([table, name, "default"], `${where}: default: ${(error as Error).message}`);
    }
  }
  if (onUpdate !== undefined && (onUpdate !== "now" || !timed)) {
    throw badConfig(
      [table, name, "onUpdate"],
      `${where}: onUpdate can only be now, on a date or datetime column`,
    );
  }
  return { ...parsed, unique: unique === true, default: defaultValue, onUpdateNow: !!onUpdate };
}

const COLUMN_OPTIONS = ["type", "index", "unique", "default", "onUpdate"];

function parseColumnType(table: string, name: string, spec: unknown): ColumnSchema {
  const where = `tables.${table}.${name}`;
  let type: unknown = spec;
  let indexed = false;
  if (typeof spec === "object" && spec !== null && !Array.isArray(spec)) {
    const { type: t, index, indexed: alias } = spec as Record<string, unknown>;
    const extra = Object.keys(spec).find(
      (key) => key !== "indexed" && !COLUMN_OPTIONS.includes(key),
    );
    if (extra) {
      throw badConfig(
        [table, name, extra],
        `${where}: unknown option "${extra}" (known: ${COLUMN_OPTIONS.join(", ")})`,
      );
    }
    for (const flag of [index, alias]) {
      if (flag !== undefined && typeof flag !== "boolean") {
        throw badConfig([table, name], `${where}: index must be true or false`);
      }
    }
    type = t;
    indexed = index === true || alias === true;
  }
  if (typeof type !== "string") {
    throw badConfig(
      [table, name],
      `${where}: expected a column type (text, number, bool, date, datetime, object, media, link TABLE, links TABLE)`,
    );
  }
  const words = type.trim().split(/\s+/);
  const kind = words[0] ?? "";
  if (KINDS.has(kind) && words.length === 1) {
    return { name, kind: kind as ColumnKind, target: null, type: kind, indexed, secret: false };
  }
  if ((kind === "link" || kind === "links") && words.length === 2) {
    const target = words[1]!;
    // Links are always indexed: following links back ("tasks of this user", "articles with
    // this tag") is the common query. A `links` column is a join table indexed both ways
    // (see ensureLinksTable in migrate.ts).
    return {
      name,
      kind,
      target,
      type: `${kind} ${target}`,
      indexed: true,
      secret: false,
    };
  }
  throw badConfig(
    [table, name],
    `${where}: unknown column type "${type}" (known: text, number, bool, date, datetime, object, media, link TABLE, links TABLE)`,
  );
}

/**
 * The schema of every data table of an app: the tables of kiln.yaml plus the built-in tables
 * (each with its built-in columns first, then the app's own; one kiln.yaml leaves out comes
 * after the declared ones). Checks names and link targets.
 * @example parseSchema({ tasks: { title: "text", owner: "link users" } }, [usersTable])
 */
export function parseSchema(
  tables: Record<string, unknown> | undefined | null,
  builtIns: readonly BuiltInTable[],
): Schema {
  const declared: Record<string, unknown> = { ...(tables ?? {}) };
  for (const table of builtIns) if (!(table.name in declared)) declared[table.name] = {};
  const schema = new Map<string, TableSchema>();
  const seen = new Map<string, string>();
  for (const [name, spec] of Object.entries(declared)) {
    checkName(name, [name], "table");
    if (RESERVED_TABLES.has(name)) throw badConfig([name], `tables.${name}: "${name}" is reserved`);
    const folded = name.toLowerCase();
    if (seen.has(folded)) {
      throw badConfig(
        [name],
        `tables.${name}: clashes with tables.${seen.get(folded)} (names ignore case)`,
      );
    }
    seen.set(folded, name);
    const builtIn = builtIns.find((table) => table.name === name);
    schema.set(name, parseTable(name, spec, builtIn));
  }
  for (const table of schema.values()) {
    for (const column of table.columns) {
      if (column.target && !schema.has(column.target)) {
        throw badConfig(
          [table.name, column.name],
          `tables.${table.name}.${column.name}: links to unknown table "${column.target}" (tables: ${[...schema.keys()].join(", ")})`,
        );
      }
    }
  }
  return schema;
}

function parseTable(name: string, spec: unknown, builtInTable?: BuiltInTable): TableSchema {
  if (spec !== null && spec !== undefined && (typeof spec !== "object" || Array.isArray(spec))) {
    throw badConfig([name], `tables.${name}: expected a mapping of column: type`);
  }
  const builtIn = builtInTable?.columns ?? [];
  const columns: ColumnSchema[] = [...builtIn];
  const seen = new Map(builtIn.map((c) => [c.name.toLowerCase(), c.name]));
  let uniqueLists: unknown;
  for (const [column, type] of Object.entries((spec ?? {}) as Record<string, unknown>)) {
    // `unique: [[a, b]]`: a column type is never a list, so a list under `unique` is the
    // table's composite uniqueness (a column may still be called unique).
    if (column === "unique" && Array.isArray(type)) {
      uniqueLists = type;
      continue;
    }
    const where = `tables.${name}.${column}`;
    checkName(column, [name, column], "column");
    if (RESERVED_COLUMNS.has(column) || column in Object.prototype) {
      throw badConfig(
        [name, column],
        `${where}: "${column}" is reserved (rows have it as a property or method)`,
      );
    }
    const parsed = parseColumn(name, column, type);
    const clash = seen.get(column.toLowerCase());
    if (clash !== undefined) {
      const builtInColumn = builtIn.find((c) => c.name === clash);
      if (builtInColumn && builtInColumn.type === parsed.type) continue; // restating is fine
      throw badConfig(
        [name, column],
        builtInColumn
          ? `${where}: ${name}.${clash} is built in as ${builtInColumn.type}`
          : `${where}: clashes with ${clash} (names ignore case)`,
      );
    }
    seen.set(column.toLowerCase(), column);
    columns.push(parsed);
  }
  const byName = new Map(columns.map((c) => [c.name, c]));
  const uniques: UniqueConstraint[] = columns
    .filter((c) => c.unique)
    .map((c) => ({ columns: [c.name] }));
  for (const list of parseUniqueLists(name, uniqueLists, byName)) {
    if (!uniques.some((u) => sameColumns(u.columns, list))) uniques.push({ columns: list });
  }
  return {
    name,
    columns,
    byName,
    internals: builtInTable?.internals ?? [],
    uniques,
  };
}

/** `unique: [a, b]` (one list) or `unique: [[a, b], [c, d]]`, checked against the columns. */
function parseUniqueLists(
  table: string,
  spec: unknown,
  byName: ReadonlyMap<string, ColumnSchema>,
): string[][] {
  if (spec === undefined) return [];
  const where = `tables.${table}.unique`;
  const lists = (spec as unknown[]).every((item) => typeof item === "string")
    ? [spec as string[]]
    : (spec as unknown[]);
  return lists.map((list) => {
    if (!Array.isArray(list) || !list.length || !list.every((c) => typeof c === "string")) {
      throw badConfig(
        [table, "unique"],
        `${where}: expected lists of column names, such as [[follower, followed]]`,
      );
    }
    for (const name of list) {
      const column = byName.get(name);
      if (!column) {
        throw badConfig(
          [table, "unique"],
          `${where}: no column "${name}" (columns: ${[...byName.keys()].join(", ")})`,
        );
      }
      if (!UNIQUE_KINDS.has(column.kind)) {
        throw badConfig(
          [table, "unique"],
          `${where}: ${name} is a ${column.type} column, which cannot be unique`,
        );
      }
    }
    if (new Set(list).size !== list.length)
      throw badConfig([table, "unique"], `${where}: a column is named twice`);
    return [...list];
  });
}

function sameColumns(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((c) => b.includes(c));
}

function checkName(name: string, path: string[], what: string): void {
  if (!NAME.test(name)) {
    throw badConfig(
      path,
      `tables.${path.join(".")}: a ${what} name starts with a letter and has only letters, digits and _ (at most 63)`,
    );
  }
}

/** `path` is under `tables:` (`["tasks", "title"]`), so that the loader can name the line. */
function badConfig(path: string[], message: string): ConfigError {
  return new ConfigError(["tables", ...path], message);
}
