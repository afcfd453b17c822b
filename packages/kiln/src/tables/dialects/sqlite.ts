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
import { shortened } from "../names.ts";
import type { ColumnKind } from "../schema.ts";
import { TransactionDriver } from "../transaction-driver.ts";
import { DEFAULT_SQLITE_SETTINGS, type SqliteSettings } from "./settings.ts";
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
  links: "text", // never a column: a join table (see createLinksTable)
};
const COLUMN_TYPES = Object.fromEntries(
  Object.entries(TYPES).map(([kind, type]) => [kind, sql.raw(type)]),
) as Record<ColumnKind, RawBuilder<unknown>>;

/** How long a write waits for another process's lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens a SQLite file (or `:memory:`) with Kiln's settings. Order matters: busy_timeout first,
 * so that switching to WAL waits for another process that holds the file instead of failing.
 * @internal for bench/tables.ts: kept out of the published .d.ts (stripInternal), where its
 * better-sqlite3 return type would need @types/better-sqlite3 in every app's strict tsc.
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
  const systemDb = new Kysely<unknown>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => driver,
      createIntrospector: (k) => new SqliteIntrospector(k),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
  // One Kysely, two types: Kysely's database type is invariant, and withTables adds the
  // data tables to the type only (the copy shares the driver).
  const db = systemDb.withTables<AnyDB>();
  return {
    name: "sqlite",
    db,
    systemDb,
    columnType: (kind) => COLUMN_TYPES[kind],
    idColumnType: sql.raw("integer primary key autoincrement"),
    toDb(kind, value) {
      if (value === null) return null;
      switch (kind) {
        case "bool":
          return value ? 1 : 0;
        case "datetime":
          return (value as Date).getTime();
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
    listParam: (values) => JSON.stringify(values),
    // An expression rather than a bare parameter: SQLite then plans the statement once.
    rowCount: (value) => sql<number>`cast(${value} as integer)`,
    async createLinksTable(links, physical, target) {
      const [table, data, targets] = [sql.table(links), sql.table(physical), sql.table(target)];
      // Without rowid: the rows are stored in primary-key order, so a row's links are one
      // range of the table itself.
      await sql`create table ${table} (row_id integer not null, target_id integer not null, position integer not null, primary key (row_id, target_id)) without rowid`.execute(
        db,
      );
      await sql`create index ${sql.id(shortened(`${links}_by_target`))} on ${table} (target_id, row_id)`.execute(
        db,
      );
      const [rowGone, targetGone] = linksTriggers(links);
      await sql`create trigger ${sql.id(rowGone)} after delete on ${data} begin
        delete from ${table} where row_id = old.id;
      end`.execute(db);
      await sql`create trigger ${sql.id(targetGone)} after delete on ${targets} begin
        delete from ${table} where target_id = old.id;
      end`.execute(db);
    },
    async dropLinksTable(links) {
      // 0.1's triggers kept a pairs table of the same name in step with the JSON list.
      const old = ["insert", "update", "delete"].map((suffix) => `${links}_${suffix}`);
      for (const name of [...linksTriggers(links), ...old]) {
        await sql`drop trigger if exists ${sql.id(name)}`.execute(db);
      }
      await sql`drop table if exists ${sql.table(links)}`.execute(db);
    },
    async copyJsonLinks(physical, column, links, target) {
      // 0.1 could store an id as a real (json_insert of a bound number): 3.0 is row 3.
      const id = sql`cast(e.value as integer)`;
      await sql`insert into ${sql.table(links)} (row_id, target_id, position)
        select t.id, ${id}, min(e.key) + 1
        from ${sql.table(physical)} as t, json_each(case when json_valid(t.${sql.id(column)}) then t.${sql.id(column)} else '[]' end) as e
        where exists (select 1 from ${sql.table(target)} as x where x.id = ${id})
        group by t.id, ${id}`.execute(db);
    },
    linkRows(rows) {
      return sql`(select json_extract(value, '$[0]') as row_id, json_extract(value, '$[1]') as target_id, json_extract(value, '$[2]') as position from json_each(${JSON.stringify(rows)}))`;
    },
    async hasColumn(table, column) {
      const { rows } =
        await sql`select 1 from pragma_table_info(${table}) where name = ${column}`.execute(db);
      return rows.length > 0;
    },
    async dropTable(name) {
      await sql`drop table if exists ${sql.table(name)}`.execute(db);
    },
    isRetryable: (error) => sqliteCode(error).startsWith("SQLITE_BUSY"),
    uniqueViolation(error) {
      if (sqliteCode(error) !== "SQLITE_CONSTRAINT_UNIQUE") return null;
      // "UNIQUE constraint failed: data_follows.follower, data_follows.followed"
      const list = /constraint failed: (.*)$/.exec((error as Error).message)?.[1] ?? "";
      return { columns: list.split(", ").map((name) => name.slice(name.indexOf(".") + 1)) };
    },
    isRefusedValue: (error) => sqliteCode(error) === "SQLITE_TOOBIG",
    // Never seen from Kiln's own writes: join tables are kept by triggers here, not foreign
    // keys, and one writer at a time means no delete can slip in mid-statement.
    isMissingReference: (error) => sqliteCode(error) === "SQLITE_CONSTRAINT_FOREIGNKEY",
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
    renameTable: async (oldName, newName) => {
      await db.schema.alterTable(oldName).renameTo(newName).execute();
    },
    releaseIndex: async (oldName) => {
      await sql`drop index ${sql.id(oldName)}`.execute(db);
    },
    close: () => db.destroy(),
  };
}

/** SQLite's SQLITE_ERROR messages for a statement over one of its size limits. */
const TOO_LARGE_MESSAGES =
  /^(too many SQL variables|Expression tree is too large|LIKE or GLOB pattern too complex|parser stack overflow|too many arguments on function|too many terms in compound SELECT)/;

/** The triggers that delete a join table's rows with the row having them, and the row they point to. */
function linksTriggers(links: string): [string, string] {
  return [shortened(`${links}_row_gone`), shortened(`${links}_target_gone`)];
}

function sqliteCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}
