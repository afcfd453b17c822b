import { ConfigError } from "../errors.ts";
import { usersTableColumns, usersTableInternals } from "./system-tables.ts";

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

/** One column of a data table, as declared in kiln.yaml (or built in, for `users`). */
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
}

/**
 * A column the app never sees, kept up to date by Kiln from a visible one: the lower-cased
 * email of `users`, which carries the case-insensitive unique index.
 */
export interface InternalColumn {
  readonly name: string;
  readonly from: string;
  readonly derive: (value: unknown) => unknown;
  readonly unique: boolean;
}

export interface TableSchema {
  readonly name: string;
  readonly columns: readonly ColumnSchema[];
  readonly byName: ReadonlyMap<string, ColumnSchema>;
  readonly internals: readonly InternalColumn[];
}

export type Schema = ReadonlyMap<string, TableSchema>;

// Same rules on every backend: SQLite folds identifier case, so names are compared
// case-insensitively too; a leading underscore is kept for Kiln's internal columns.
const NAME = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
const RESERVED_COLUMNS = new Set(["id", "update", "delete", "equals", "toJSON", "then"]);
/** `tables.get(name)` is the accessor's own method. */
const RESERVED_TABLES = new Set(["get", "then"]);

/** Parses one column type: `"text"`, `"link users"`, `{ type: "text", index: true }`. */
export function parseColumn(table: string, name: string, spec: unknown): ColumnSchema {
  const where = `tables.${table}.${name}`;
  let type: unknown = spec;
  let indexed = false;
  if (typeof spec === "object" && spec !== null && !Array.isArray(spec)) {
    const { type: t, index, indexed: alias, ...rest } = spec as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra)
      throw badConfig(
        [table, name, extra],
        `${where}: unknown option "${extra}" (known: type, index)`,
      );
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
    // A single link is always indexed: following links back ("tasks of this user") is the
    // common query. `links` keep a JSON list of ids, which only PostgreSQL can index (GIN).
    return {
      name,
      kind,
      target,
      type: `${kind} ${target}`,
      indexed: kind === "link" || indexed,
      secret: false,
    };
  }
  throw badConfig(
    [table, name],
    `${where}: unknown column type "${type}" (known: text, number, bool, date, datetime, object, media, link TABLE, links TABLE)`,
  );
}

/**
 * The schema of every data table of an app: the tables of kiln.yaml plus the built-in `users`
 * table (its built-in columns first, then the app's own). Checks names and link targets.
 * @example parseSchema({ tasks: { title: "text", owner: "link users" } })
 */
export function parseSchema(tables: Record<string, unknown> | undefined | null): Schema {
  const declared: Record<string, unknown> = { ...(tables ?? {}) };
  if (!("users" in declared)) declared.users = {};
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
    schema.set(name, parseTable(name, spec));
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

function parseTable(name: string, spec: unknown): TableSchema {
  if (spec !== null && spec !== undefined && (typeof spec !== "object" || Array.isArray(spec))) {
    throw badConfig([name], `tables.${name}: expected a mapping of column: type`);
  }
  const builtIn = name === "users" ? usersTableColumns : [];
  const columns: ColumnSchema[] = [...builtIn];
  const seen = new Map(builtIn.map((c) => [c.name.toLowerCase(), c.name]));
  for (const [column, type] of Object.entries((spec ?? {}) as Record<string, unknown>)) {
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
          ? `${where}: users.${clash} is built in as ${builtInColumn.type}`
          : `${where}: clashes with ${clash} (names ignore case)`,
      );
    }
    seen.set(column.toLowerCase(), column);
    columns.push(parsed);
  }
  return {
    name,
    columns,
    byName: new Map(columns.map((c) => [c.name, c])),
    internals: name === "users" ? usersTableInternals : [],
  };
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
