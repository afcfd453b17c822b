import type { Media } from "../http/media.ts";
import type { CsvOptions } from "./csv.ts";
import type { Query } from "./query.ts";

/**
 * The typed shape of an app's tables. Empty here; `kiln types` writes a declaration file that
 * fills it in from kiln.yaml (module augmentation), so that `tables.tasks` rows have typed
 * columns and a misspelled column is a compile error.
 * @example
 * declare module "kilnjs" {
 *   interface KilnTables {
 *     tasks: { title: "text"; done: "bool"; owner: "link users" };
 *   }
 * }
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by declaration merging
export interface KilnTables {}

/** A column type as written in kiln.yaml. */
export type ColumnType =
  | "text"
  | "number"
  | "bool"
  | "date"
  | "datetime"
  | "object"
  | "media"
  | `link ${string}`
  | `links ${string}`;

/** A table's columns: name → type. */
export type ColumnTypes = { readonly [column: string]: ColumnType };

/** The columns of a table that `kiln types` did not describe: any name, values unknown. */
export type UntypedColumns = { readonly [column: string]: ColumnType };

/** The columns of the table named N (untyped when N is not in KilnTables). */
export type ColumnsOf<N extends string> = N extends keyof KilnTables
  ? KilnTables[N] extends ColumnTypes
    ? KilnTables[N]
    : UntypedColumns
  : UntypedColumns;

/** A JSON value, as stored in an `object` column. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** What reading a column of type T gives. */
export type ColumnValue<T> = T extends "text"
  ? string | null
  : T extends "number"
    ? number | null
    : T extends "bool"
      ? boolean | null
      : T extends "date"
        ? string | null
        : T extends "datetime"
          ? Date | null
          : T extends "object"
            ? JsonValue
            : T extends "media"
              ? Media | null
              : T extends `link ${infer N}`
                ? Row<ColumnsOf<N>> | null
                : T extends `links ${infer N}`
                  ? Row<ColumnsOf<N>>[]
                  : unknown;

/** What writing a column of type T accepts. */
export type ColumnInput<T> = T extends "text"
  ? string | null
  : T extends "number"
    ? number | null
    : T extends "bool"
      ? boolean | null
      : T extends "date"
        ? string | Date | null
        : T extends "datetime"
          ? Date | string | null
          : T extends "object"
            ? JsonValue | object
            : T extends "media"
              ? Media | null
              : T extends `link ${infer N}`
                ? Row<ColumnsOf<N>> | null
                : T extends `links ${infer N}`
                  ? Row<ColumnsOf<N>>[] | null
                  : unknown;

/** Values for `addRow` / `update`: any subset of the columns. */
export type RowValues<C extends ColumnTypes = UntypedColumns> = string extends keyof C
  ? { readonly [column: string]: unknown }
  : { readonly [K in keyof C]?: ColumnInput<C[K]> };

/**
 * Search filters: `{ column: value }` (equality) or `{ column: q.operator(...) }`; `id` takes
 * a row of the table or its id text (`{ id: q.anyOf(...ids) }` too).
 */
export type Filters<C extends ColumnTypes = UntypedColumns> = string extends keyof C
  ? { readonly [column: string]: unknown }
  : {
      readonly [K in keyof C]?:
        | ColumnInput<C[K]>
        | Query
        | (C[K] extends `links ${infer N}` ? Row<ColumnsOf<N>> : never);
    } & { readonly id?: string | Row<C> | Query };

/**
 * The methods every row has, whatever its columns. A type literal, not an interface, on
 * purpose: TypeScript lets a type literal (never an interface) stand in for an index signature,
 * and that is what makes a typed row assignable to the untyped `Row`, as in
 * `(task: Row) => task.title` applied to `tables.tasks` rows.
 */
export type RowMethods<C extends ColumnTypes = UntypedColumns> = {
  /** `"[tableId,rowId]"`: stable for the row's whole life, across restarts and migrations. */
  readonly id: string;
  /** Writes the given columns (others unchanged); the row's properties follow. */
  update(values: RowValues<C>): Promise<void>;
  /** Deletes the row. Later `update`s fail with KILN_ROW_DELETED. */
  delete(): Promise<void>;
  /** True when `other` is the same row (same table, same id), loaded separately or not. */
  equals(other: unknown): boolean;
  /** The columns plus `id`, ready for JSON (Date → ISO string, link → row id). */
  toJSON(): Record<string, unknown>;
};

/** A row of a data table: its columns as read-only properties, plus `id` and methods. */
export type Row<C extends ColumnTypes = UntypedColumns> = RowMethods<C> &
  (string extends keyof C
    ? { readonly [column: string]: unknown }
    : { readonly [K in keyof C]: ColumnValue<C[K]> });

/** One `orderBy` entry: a column name, or a column and a direction. */
export type OrderBy<C extends ColumnTypes = UntypedColumns> =
  | (keyof C & string)
  | { readonly column: keyof C & string; readonly ascending?: boolean };

export interface SearchOptions<C extends ColumnTypes = UntypedColumns> {
  /** Sort order; default: the order rows were added. */
  orderBy?: OrderBy<C> | readonly OrderBy<C>[];
  limit?: number;
  offset?: number;
}

/**
 * The rows a search found, fetched lazily a page at a time: iterate it with `for await`, or
 * `toArray()` when the result is known to be small.
 * @example for await (const task of tables.tasks.search({ done: false })) console.log(task.title);
 */
export interface SearchResult<C extends ColumnTypes = UntypedColumns>
  extends AsyncIterable<Row<C>> {
  /** The number of matching rows (a `count` query; respects limit and offset). */
  count(): Promise<number>;
  /**
   * The number of rows matching the filters, ignoring limit and offset: the total that a paged
   * list shows beside its page.
   * @example const total = await tables.tasks.search({ done: false }, { limit: 20 }).total();
   */
  total(): Promise<number>;
  /**
   * The page (the rows within limit and offset) and the total ignoring them, in one call. The
   * count is skipped when the page itself tells the total (a last page that is not full).
   * @example
   * const { rows, total } = await tables.tasks
   *   .search({ done: false }, { orderBy: "due", limit: 20, offset: 40 })
   *   .toPage();
   */
  toPage(): Promise<{ rows: Row<C>[]; total: number }>;
  /** Same as `count()`: a Promise, since counting asks the database. */
  readonly length: Promise<number>;
  /** Every matching row in an array. Mind the size: prefer `for await` or a `limit`. */
  toArray(): Promise<Row<C>[]>;
  /**
   * The matching rows as CSV (header row first), as a Media named `TABLE.csv`. Text that a
   * spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a
   * `'` in front, which `kiln tables import` takes away; `{ raw: true }` leaves text as is.
   * @example return await tables.tasks.search({ done: false }).toCsv();
   */
  toCsv(options?: CsvOptions): Promise<Media>;
}

/** A data table. Get one with `tables.NAME` or `tables.get("NAME")`. */
export interface Table<C extends ColumnTypes = UntypedColumns> {
  readonly name: string;
  /**
   * Adds a row; columns left out are null.
   * @example const task = await tables.tasks.addRow({ title: "Write docs", done: false });
   */
  addRow(values?: RowValues<C>): Promise<Row<C>>;
  /**
   * Adds many rows in one go, atomically: all are checked first, then written in multi-row
   * INSERTs. Much faster than a loop of addRow.
   * @example await tables.tasks.addRows([{ title: "a" }, { title: "b" }]);
   */
  addRows(rows: readonly RowValues<C>[]): Promise<Row<C>[]>;
  /**
   * Rows matching every filter, lazily.
   * @example tables.tasks.search({ done: false, title: q.ilike("%docs%") }, { orderBy: "title" })
   */
  search(filters?: Filters<C> | Query, options?: SearchOptions<C>): SearchResult<C>;
  /** The one row matching the filters, or null; more than one is a KILN_MULTIPLE_ROWS error. */
  get(filters: Filters<C> | Query): Promise<Row<C> | null>;
  /** The row with this id, or null (also for a malformed id or one of another table). */
  getById(id: string): Promise<Row<C> | null>;
  /** Deletes every row (ids are never reused). */
  deleteAllRows(): Promise<void>;
  /**
   * Adds one row to a `links` column of a row, atomically: the database changes the list, so
   * concurrent adds (20 requests favouriting one article) are all kept, where
   * `row.update({ fans: [...row.fans, user] })` keeps only the last writer's list. Adding a
   * link already there does nothing; a new one goes at the end of the list. `onUpdate: now`
   * columns are set when the list changes. KILN_ROW_DELETED if the row is gone.
   * @example await tables.articles.addLink(article, "fans", user);
   */
  addLink(row: Row<C>, column: LinksColumn<C>, linked: Row): Promise<void>;
  /**
   * Removes a row from a `links` column of a row, atomically (see addLink).
   * @example await tables.articles.removeLink(article, "fans", user);
   */
  removeLink(row: Row<C>, column: LinksColumn<C>, linked: Row): Promise<void>;
  /**
   * The number of rows a `links` column of a row links to, in one indexed query, without
   * loading them (deleting a row removes it from every list, so it is not counted).
   * @example const fans = await tables.articles.countLinks(article, "fans");
   */
  countLinks(row: Row<C>, column: LinksColumn<C>): Promise<number>;
  /**
   * The whole table as CSV (header row first), as a Media named `TABLE.csv`; formula-like
   * text neutralised unless `{ raw: true }` (see SearchResult.toCsv).
   * @example httpEndpoint("/export", () => tables.tasks.toCsv());
   */
  toCsv(options?: CsvOptions): Promise<Media>;
}

/** The names of a table's `links` columns (any name when the table is untyped). */
export type LinksColumn<C extends ColumnTypes> = string extends keyof C
  ? string
  : { [K in keyof C]: C[K] extends `links ${string}` ? K : never }[keyof C] & string;

/** `tables`: each table of the app by name, and `get(name)`. */
export type TablesAccessor = (keyof KilnTables extends never
  ? { readonly [name: string]: Table }
  : { readonly [N in keyof KilnTables & string]: Table<ColumnsOf<N>> }) & {
  /** The table named `name`; KILN_UNKNOWN_TABLE if the app has none. */
  get<N extends string>(name: N): Table<ColumnsOf<N>>;
};
