import BetterSqlite3 from "better-sqlite3";
import {
  Kysely,
  type RawBuilder,
  type SqlBool,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  sql,
} from "kysely";
import type { AnyDB, Dialect } from "../dialect.ts";
import type { ColumnKind } from "../schema.ts";
import { TransactionDriver } from "../transaction-driver.ts";
import { SqliteDriver } from "./sqlite-driver.ts";

const TYPES: Record<ColumnKind, string> = {
  text: "text",
  number: "real",
  bool: "integer", // 0 or 1
  date: "text", // YYYY-MM-DD: sorts and compares as text
  datetime: "integer", // milliseconds since 1970 UTC: compact, exact for a JS Date, sorts as a number
  object: "text", // JSON with sorted keys, so equal objects are equal strings
  media: "blob",
  link: "integer", // the linked row's id
  links: "text", // a JSON list of row ids
};
const COLUMN_TYPES = Object.fromEntries(
  Object.entries(TYPES).map(([kind, type]) => [kind, sql.raw(type)]),
) as Record<ColumnKind, RawBuilder<unknown>>;

/** How long a write waits for another process's lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/** What the deployment decides about SQLite (app/resolve-config.ts reads it from the environment). */
export interface SqliteSettings {
  /**
   * What a returned write promises. FULL (Kiln's default): the commit is flushed to disk
   * before it returns, so it survives a process crash and a power cut. NORMAL
   * (`KILN_SQLITE_SYNCHRONOUS=normal`): it survives a process crash (it is in the WAL file in
   * the OS's cache) but the last commits may be lost if the machine itself stops; writes are
   * about ten times faster on a disk with slow fsync.
   */
  readonly synchronous: "FULL" | "NORMAL";
}

export const DEFAULT_SQLITE_SETTINGS: SqliteSettings = { synchronous: "FULL" };

/**
 * Opens a SQLite file (or `:memory:`) with Kiln's settings. Order matters: busy_timeout first,
 * so that switching to WAL waits for another process that holds the file instead of failing.
 */
export function openSqliteFile(
  file: string,
  settings: SqliteSettings = DEFAULT_SQLITE_SETTINGS,
): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // WAL: readers never block the writer nor the writer readers, across processes too.
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${settings.synchronous}`);
  // q.like is case-sensitive on every backend, as PostgreSQL's LIKE is; SQLite's LIKE folds
  // ASCII case unless told otherwise.
  db.pragma("case_sensitive_like = ON");
  // q.ilike folds case with JavaScript's Unicode rules (SQLite's lower() only knows ASCII).
  // Used in queries only, never in the schema, so the file stays readable by other tools.
  db.function("kiln_lower", { deterministic: true }, (value: unknown) =>
    typeof value === "string" ? value.toLowerCase() : value,
  );
  return db;
}

/** The SQLite dialect: better-sqlite3 under Kysely, one connection, WAL. */
export function sqliteDialect(
  file: string,
  settings: SqliteSettings = DEFAULT_SQLITE_SETTINGS,
): Dialect {
  const raw = openSqliteFile(file, settings);
  const driver = new TransactionDriver(new SqliteDriver(raw));
  const db = new Kysely<AnyDB>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => driver,
      createIntrospector: (k) => new SqliteIntrospector(k),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
  return {
    name: "sqlite",
    db,
    columnType: (kind) => COLUMN_TYPES[kind],
    idColumnType: sql.raw("integer primary key autoincrement"),
    toDb(kind, value) {
      if (value === null) return null;
      switch (kind) {
        case "bool":
          return value ? 1 : 0;
        case "datetime":
          return (value as Date).getTime();
        case "links":
          return JSON.stringify(value);
        default:
          return value;
      }
    },
    fromDb(kind, value) {
      if (value === null || value === undefined) return null;
      switch (kind) {
        case "bool":
          return value !== 0;
        case "datetime":
          return new Date(value as number);
        case "object":
        case "links":
          return JSON.parse(value as string);
        default:
          return value;
      }
    },
    like(column, pattern, caseSensitive) {
      return caseSensitive
        ? sql<SqlBool>`${column} like ${pattern} escape '\\'`
        : sql<SqlBool>`kiln_lower(${column}) like kiln_lower(${pattern}) escape '\\'`;
    },
    inList(column, _kind, values) {
      return sql<SqlBool>`${column} in (select value from json_each(${JSON.stringify(values)}))`;
    },
    linksContain(_column, rowId, where) {
      const pairs = sql.table(linksPairsTable(where.tableId, where.column));
      return sql<SqlBool>`${sql.ref("id")} in (select row_id from ${pairs} where target_id = ${rowId})`;
    },
    async ensureLinksIndex(physical, tableId, column) {
      const name = linksPairsTable(tableId, column);
      const { rows } =
        await sql`select 1 from sqlite_master where type = 'table' and name = ${name}`.execute(db);
      if (rows.length) return false;
      const [pairs, data, col] = [sql.table(name), sql.table(physical), sql.id(column)];
      await sql`create table ${pairs} (row_id integer not null, target_id integer not null)`.execute(
        db,
      );
      await sql`create index ${sql.id(`${name}_target`)} on ${pairs} (target_id, row_id)`.execute(
        db,
      );
      await sql`create index ${sql.id(`${name}_row`)} on ${pairs} (row_id)`.execute(db);
      await sql`create trigger ${sql.id(`${name}_insert`)} after insert on ${data} when new.${col} is not null begin
        insert into ${pairs} (row_id, target_id) select new.id, value from json_each(new.${col});
      end`.execute(db);
      await sql`create trigger ${sql.id(`${name}_update`)} after update of ${col} on ${data} begin
        delete from ${pairs} where row_id = old.id;
        insert into ${pairs} (row_id, target_id) select new.id, value from json_each(coalesce(new.${col}, '[]'));
      end`.execute(db);
      await sql`create trigger ${sql.id(`${name}_delete`)} after delete on ${data} begin
        delete from ${pairs} where row_id = old.id;
      end`.execute(db);
      await sql`insert into ${pairs} (row_id, target_id) select t.id, e.value from ${data} as t, json_each(t.${col}) as e`.execute(
        db,
      );
      return true;
    },
    async dropLinksIndex(tableId, column) {
      const name = linksPairsTable(tableId, column);
      for (const suffix of ["insert", "update", "delete"]) {
        await sql`drop trigger if exists ${sql.id(`${name}_${suffix}`)}`.execute(db);
      }
      await sql`drop table if exists ${sql.table(name)}`.execute(db);
    },
    linksAppend(column, rowId) {
      return sql`json_insert(coalesce(${column}, '[]'), '$[#]', ${rowId})`;
    },
    linksWithout(column, rowId) {
      return sql`(select json_group_array(value) from json_each(${column}) where value <> ${rowId})`;
    },
    linksCount(_column, target, where) {
      // Through the pairs (see ensureLinksIndex): an index range, not parsing the JSON list.
      const pairs = sql.table(linksPairsTable(where.tableId, where.column));
      return sql<number>`(select count(*) from ${pairs} as p join ${sql.table(target)} as t on t.id = p.target_id where p.row_id = ${where.rowId})`;
    },
    linksEmpty(column) {
      return sql<SqlBool>`coalesce(json_array_length(${column}), 0) = 0`;
    },
    isRetryable: (error) => sqliteCode(error).startsWith("SQLITE_BUSY"),
    uniqueViolation(error) {
      if (sqliteCode(error) !== "SQLITE_CONSTRAINT_UNIQUE") return null;
      // "UNIQUE constraint failed: data_follows.follower, data_follows.followed"
      const list = /constraint failed: (.*)$/.exec((error as Error).message)?.[1] ?? "";
      return { columns: list.split(", ").map((name) => name.slice(name.indexOf(".") + 1)) };
    },
    isRefusedValue: (error) => sqliteCode(error) === "SQLITE_TOOBIG",
    indexesOf: async (table) => {
      const { rows } = await sql<{
        name: string;
      }>`select name from sqlite_master where type = 'index' and tbl_name = ${table}`.execute(db);
      return rows.map((r) => r.name);
    },
    isUnavailable: () => false, // an embedded file: its failures are errors, not outages
    isTooLarge: (error) =>
      sqliteCode(error) === "SQLITE_TOOBIG" ||
      (sqliteCode(error) === "SQLITE_ERROR" &&
        TOO_LARGE_MESSAGES.test((error as Error).message ?? "")),
    // SQLite's SQLITE_MAX_VARIABLE_NUMBER (32766 since 3.32).
    maxParameters: 32_766,
    errorsAbortTransaction: false,
    execute: (query) => driver.execute(query),
    executeNow: (query, rowsAsArrays) => driver.executeNow(query, rowsAsArrays),
    transaction: (fn, settings) => driver.transaction(fn, settings),
    inTransaction: () => driver.inTransaction(),
    // The migration's BEGIN IMMEDIATE already makes a second process wait for the first.
    lockForMigration: async () => {},
    linksIndexMethod: null,
    hasIndex: async (name) => {
      const { rows } =
        await sql`select 1 from sqlite_master where type = 'index' and name = ${name}`.execute(db);
      return rows.length > 0;
    },
    hasTable: async (name) => {
      const { rows } =
        await sql`select 1 from sqlite_master where type = 'table' and name = ${name}`.execute(db);
      return rows.length > 0;
    },
    close: () => db.destroy(),
  };
}

/** SQLite's SQLITE_ERROR messages for a statement over one of its size limits. */
const TOO_LARGE_MESSAGES =
  /^(too many SQL variables|Expression tree is too large|LIKE or GLOB pattern too complex|parser stack overflow|too many arguments on function|too many terms in compound SELECT)/;

/** The (row, linked row) pairs of a `links` column on SQLite (see Dialect.ensureLinksIndex). */
function linksPairsTable(tableId: number, column: string): string {
  return `_kiln_links_${tableId}_${column}`;
}

function sqliteCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}
