import { sql } from "kysely";
import type { Dialect } from "./dialect.ts";
import { TableError } from "./errors.ts";
import {
  forgetColumn,
  forgetTable,
  loadMetadata,
  metadataMigrations,
  registerColumn,
  registerTable,
  type StoredTable,
  setColumnType,
} from "./metadata.ts";
import { indexName, linksTable, physicalTable, uniqueIndexName } from "./names.ts";
import { retypeColumn } from "./retype.ts";
import { type ColumnSchema, parseColumn, type Schema, type TableSchema } from "./schema.ts";
import { migrateSystemTables } from "./system-migrations.ts";

/** A change to the database that could lose data, so is only made by `kiln tables migrate --apply`. */
export interface PendingChange {
  readonly kind: "removed-table" | "removed-column" | "retyped-column";
  readonly table: string;
  readonly column?: string;
  /** The stored type (for columns). */
  readonly from?: string;
  /** The declared type (retyped columns). */
  readonly to?: string;
  /** What --apply would do, in words. */
  readonly description: string;
}

/**
 * A table, column or index the migration added, or a `links` column it moved to its join table
 * (each is one info line in the app's log).
 */
export interface SchemaChange {
  readonly kind:
    | "created-table"
    | "added-column"
    | "created-index"
    | "dropped-index"
    | "moved-links";
  readonly table: string;
  readonly column?: string;
  /** What changed, in words: `added column "due" (date)`, `created index on "owner"`. */
  readonly description: string;
}

export interface MigrationResult {
  /** Table name → table id, for every declared table. */
  readonly tableIds: ReadonlyMap<string, number>;
  /** Columns that kiln.yaml retypes but the database still has with their old type. */
  readonly keptTypes: ReadonlyMap<string, ReadonlyMap<string, ColumnSchema>>;
  /** Destructive changes still to make (after --apply: none). */
  readonly pending: readonly PendingChange[];
  /** What was done, in words (tables and columns added, destructive changes applied). */
  readonly done: readonly string[];
  /** The tables, columns and indexes added; empty when the schema was already current. */
  readonly changes: readonly SchemaChange[];
}

/**
 * Brings the database to the schema. Adds tables, columns and indexes, never touching existing
 * data. Removed and retyped columns and removed tables are only reported, unless `apply` is
 * set (`kiln tables migrate --apply`): then removed ones are dropped and retyped ones converted
 * (values that do not convert become null). Runs in one transaction under the dialect's
 * migration lock, so processes starting together migrate one after the other.
 */
export async function migrate(
  dialect: Dialect,
  schema: Schema,
  options: { apply?: boolean } = {},
): Promise<MigrationResult> {
  const migration = async () => {
    await dialect.lockForMigration();
    await migrateSystemTables(dialect, metadataMigrations);
    const stored = await loadMetadata(dialect);
    const done: string[] = [];
    const changes: SchemaChange[] = [];
    const tableIds = new Map<string, number>();
    for (const table of schema.values()) {
      const existing = stored.get(table.name);
      const id = existing ? existing.id : await createTable(dialect, table, done, changes);
      tableIds.set(table.name, id);
      if (existing) await addColumns(dialect, table, existing, done, changes);
    }
    // Once every table exists: a join table refers to the table its links point to.
    for (const table of schema.values()) {
      const existing = stored.get(table.name);
      const types = existing?.columns ?? declaredColumns(table);
      // A new table's indexes are part of its "created" change.
      await createIndexes(
        dialect,
        table,
        tableIds.get(table.name)!,
        types,
        existing ? changes : null,
      );
    }
    const pending = pendingChanges(schema, stored);
    if (options.apply) {
      for (const change of pending) {
        await applyChange(dialect, schema, stored, change, done, changes);
      }
    }
    const remaining = options.apply ? [] : pending;
    const kept = keptTypes(schema, remaining);
    return { tableIds, keptTypes: kept, pending: remaining, done, changes };
  };
  return dialect.transaction(migration, { isolationLevel: "read committed" });
}

/** Name → type of every column the database should have (internal ones included). */
function declaredColumns(table: TableSchema): Map<string, string> {
  const columns = new Map(table.columns.map((c) => [c.name, c.type]));
  for (const internal of table.internals) columns.set(internal.name, "text");
  return columns;
}

async function createTable(
  dialect: Dialect,
  table: TableSchema,
  done: string[],
  changes: SchemaChange[],
): Promise<number> {
  const columns = declaredColumns(table);
  let builder = dialect.db.schema
    .createTable(physicalTable(table.name))
    .addColumn("id", dialect.idColumnType);
  for (const [name, type] of columns) {
    // A `links` column is a join table of its own (see ensureLinksTable).
    if (kindOf(type) !== "links")
      builder = builder.addColumn(name, dialect.columnType(kindOf(type)));
  }
  await builder.execute();
  const id = await registerTable(dialect, table.name);
  for (const [name, type] of columns) await registerColumn(dialect, id, name, type);
  done.push(`created table ${table.name}`);
  const listed = table.columns.map((c) => `"${c.name}" (${c.type})`).join(", ");
  changes.push({
    kind: "created-table",
    table: table.name,
    description: `created with columns ${listed}`,
  });
  return id;
}

async function addColumns(
  dialect: Dialect,
  table: TableSchema,
  stored: StoredTable,
  done: string[],
  changes: SchemaChange[],
): Promise<void> {
  for (const [name, type] of declaredColumns(table)) {
    if (stored.columns.has(name)) continue;
    if (kindOf(type) !== "links") {
      await dialect.db.schema
        .alterTable(physicalTable(table.name))
        .addColumn(name, dialect.columnType(kindOf(type)))
        .execute();
    }
    await registerColumn(dialect, stored.id, name, type);
    stored.columns.set(name, type);
    done.push(`added column ${table.name}.${name} (${type})`);
    changes.push({
      kind: "added-column",
      table: table.name,
      column: name,
      description: `added column "${name}" (${type})`,
    });
  }
}

/**
 * Indexes: every `link` column (finding a user's tasks is the common query) and every column
 * declared with `index: true`; a `links` column is a join table, indexed both ways (see
 * ensureLinksTable). Indexes are created if missing and never dropped (an extra index costs
 * only write time). `types` are the column types the database has (a retype not yet applied
 * keeps the old one). With `changes`, each index created is recorded there (null: the table is
 * new, so all are).
 */
async function createIndexes(
  dialect: Dialect,
  table: TableSchema,
  tableId: number,
  types: ReadonlyMap<string, string>,
  changes: SchemaChange[] | null,
) {
  const physical = physicalTable(table.name);
  const recordIfNew = async (name: string, column: string, unique: boolean) => {
    if (!changes || (await dialect.hasIndex(name))) return;
    changes.push({
      kind: "created-index",
      table: table.name,
      column,
      description: `created ${unique ? "unique " : ""}index on "${column}"`,
    });
  };
  for (const column of table.columns) {
    const stored = parseColumn(table.name, column.name, types.get(column.name) ?? column.type);
    if (stored.kind === "links") {
      await ensureLinksTable(dialect, table.name, tableId, stored, changes);
      continue;
    }
    if (!column.indexed || column.kind === "links") continue;
    const name = indexName(tableId, column.name, false);
    await recordIfNew(name, column.name, false);
    await dialect.db.schema
      .createIndex(name)
      .ifNotExists()
      .on(physical)
      .column(column.name)
      .execute();
  }
  await createUniqueIndexes(dialect, table, tableId, changes);
  for (const internal of table.internals) {
    const name = indexName(tableId, internal.name, internal.unique);
    await recordIfNew(name, internal.name, internal.unique);
    let index = dialect.db.schema
      .createIndex(name)
      .ifNotExists()
      .on(physical)
      .column(internal.name);
    if (internal.unique) index = index.unique();
    await index.execute();
  }
}

/**
 * Makes the join table of a `links` column if it is missing. A column stored as 0.1 did (a
 * JSON list of ids in the row, with a GIN index on PostgreSQL and a pairs table kept by
 * triggers on SQLite) is moved into it, keeping each list's order, then dropped from the row:
 * done once, in the migration's transaction.
 */
async function ensureLinksTable(
  dialect: Dialect,
  table: string,
  tableId: number,
  column: ColumnSchema,
  changes: SchemaChange[] | null,
): Promise<void> {
  const links = linksTable(tableId, column.name);
  const physical = physicalTable(table);
  const inRow = await dialect.hasColumn(physical, column.name);
  if (!inRow && (await dialect.hasColumn(links, "position"))) return;
  const target = physicalTable(column.target!);
  // Links to a table dropped since (a retype not applied yet) stay as they are.
  if (!(await dialect.hasColumn(target, "id"))) return;
  await dialect.dropLinksTable(links);
  await dialect.createLinksTable(links, physical, target);
  if (!inRow) return;
  await dialect.copyJsonLinks(physical, column.name, links, target);
  await dialect.db.schema
    .dropIndex(indexName(tableId, column.name, false))
    .ifExists()
    .execute();
  await dialect.db.schema.alterTable(physical).dropColumn(column.name).execute();
  changes?.push({
    kind: "moved-links",
    table,
    column: column.name,
    description: `moved the links of "${column.name}" to a join table (${links}), indexed both ways`,
  });
}

/**
 * The unique indexes of `unique: true` columns and `unique:` lists. One that kiln.yaml no
 * longer declares is dropped (it would keep refusing writes). Before one is created, the
 * rows are checked: duplicates refuse the migration, naming the values, since the database
 * would only say that the index could not be made.
 */
async function createUniqueIndexes(
  dialect: Dialect,
  table: TableSchema,
  tableId: number,
  changes: SchemaChange[] | null,
): Promise<void> {
  const physical = physicalTable(table.name);
  const wanted = new Map(table.uniques.map((u) => [uniqueIndexName(tableId, u.columns), u]));
  const internal = new Set(table.internals.map((c) => indexName(tableId, c.name, true)));
  const existing = await dialect.indexesOf(physical);
  for (const name of existing) {
    if (!name.startsWith(`uq_${tableId}_`) || wanted.has(name) || internal.has(name)) continue;
    await dialect.db.schema.dropIndex(name).ifExists().execute();
    changes?.push({
      kind: "dropped-index",
      table: table.name,
      description: `dropped unique index ${name} (no longer declared in kiln.yaml)`,
    });
  }
  for (const [name, unique] of wanted) {
    if (existing.includes(name)) continue;
    await refuseDuplicates(dialect, table, unique.columns);
    await dialect.db.schema
      .createIndex(name)
      .on(physical)
      .columns([...unique.columns])
      .unique()
      .execute();
    changes?.push({
      kind: "created-index",
      table: table.name,
      column: unique.columns.join(", "),
      description: `created unique index on "${unique.columns.join('", "')}"`,
    });
  }
}

/** Throws KILN_DUPLICATE_VALUE naming up to 5 values that several rows share. */
async function refuseDuplicates(
  dialect: Dialect,
  table: TableSchema,
  columns: readonly string[],
): Promise<void> {
  const refs = columns.map((c) => sql.ref(c));
  const { rows } = await sql<
    Record<string, unknown>
  >`select ${sql.join(refs)}, count(*) as kiln_rows from ${sql.table(physicalTable(table.name))} where ${sql.join(
    refs.map((ref) => sql`${ref} is not null`),
    sql` and `,
  )} group by ${sql.join(refs)} having count(*) > 1 limit 5`.execute(dialect.db);
  if (!rows.length) return;
  const shown = rows.map((row) => {
    const values = columns.map((name) => shownValue(dialect, table.byName.get(name)!, row[name]));
    return `${values.join(", ")} (${Number(row.kiln_rows)} rows)`;
  });
  const what =
    columns.length === 1 ? `${table.name}.${columns[0]}` : `${table.name} (${columns.join(", ")})`;
  throw new TableError(
    "KILN_DUPLICATE_VALUE",
    `kiln.yaml makes ${what} unique, but existing rows share values: ${shown.join("; ")}${rows.length === 5 ? "; ..." : ""}. Change or delete the duplicates (the old kiln.yaml still works), then start again`,
    {
      table: table.name,
      column: columns.join(", "),
      columns: columns.length > 1 ? columns : undefined,
    },
  );
}

/** A stored value as a migration message shows it: a string quoted, a datetime in ISO form. */
function shownValue(dialect: Dialect, column: ColumnSchema, raw: unknown): string {
  const value = dialect.fromDb(column.kind, raw);
  if (value instanceof Date) return value.toISOString();
  if (column.kind === "link") return `row ${value} of ${column.target}`;
  return JSON.stringify(value);
}

function pendingChanges(schema: Schema, stored: Map<string, StoredTable>): PendingChange[] {
  const pending: PendingChange[] = [];
  for (const [name, table] of stored) {
    const declared = schema.get(name);
    if (!declared) {
      pending.push({
        kind: "removed-table",
        table: name,
        description: `drop table ${name} (no longer in kiln.yaml) and all its rows`,
      });
      continue;
    }
    const columns = declaredColumns(declared);
    for (const [column, type] of table.columns) {
      const wanted = columns.get(column);
      if (wanted === undefined) {
        pending.push({
          kind: "removed-column",
          table: name,
          column,
          from: type,
          description: `drop column ${name}.${column} (${type}, no longer in kiln.yaml) and its values`,
        });
      } else if (wanted !== type) {
        pending.push({
          kind: "retyped-column",
          table: name,
          column,
          from: type,
          to: wanted,
          description: `convert column ${name}.${column} from ${type} to ${wanted} (values that do not convert become null)`,
        });
      }
    }
  }
  return pending;
}

async function applyChange(
  dialect: Dialect,
  schema: Schema,
  stored: Map<string, StoredTable>,
  change: PendingChange,
  done: string[],
  changes: SchemaChange[],
): Promise<void> {
  const table = stored.get(change.table)!;
  const physical = physicalTable(change.table);
  if (change.kind === "removed-table") {
    for (const [column, type] of table.columns) {
      if (kindOf(type) === "links") await dialect.dropLinksTable(linksTable(table.id, column));
    }
    await dialect.dropTable(physical);
    await forgetTable(dialect, table.id);
  } else if (change.kind === "removed-column") {
    const column = change.column!;
    await dialect.db.schema
      .dropIndex(indexName(table.id, column, false))
      .ifExists()
      .execute();
    if (kindOf(change.from!) === "links")
      await dialect.dropLinksTable(linksTable(table.id, column));
    // A `links` column is in the row only if it was never moved to its join table.
    if (await dialect.hasColumn(physical, column)) {
      await dialect.db.schema.alterTable(physical).dropColumn(column).execute();
    }
    await forgetColumn(dialect, table.id, column);
  } else {
    const column = change.column!;
    const from = parseColumn(change.table, column, change.from);
    const declared = schema.get(change.table)!;
    const to = declared.byName.get(column)!;
    const lost = await retypeColumn(dialect, table.id, declared, from, to);
    await setColumnType(dialect, table.id, column, to.type);
    table.columns.set(column, to.type);
    await createIndexes(dialect, declared, table.id, table.columns, changes);
    if (lost)
      done.push(`${change.table}.${column}: ${lost} values did not convert and are now null`);
  }
  done.push(change.description);
}

/** Retyped columns keep working with their stored type until the change is applied. */
function keptTypes(schema: Schema, pending: readonly PendingChange[]) {
  const kept = new Map<string, Map<string, ColumnSchema>>();
  for (const change of pending) {
    if (change.kind !== "retyped-column") continue;
    const column = parseColumn(change.table, change.column!, change.from);
    if (column.target && !schema.has(column.target)) continue;
    const table = kept.get(change.table) ?? new Map<string, ColumnSchema>();
    table.set(column.name, column);
    kept.set(change.table, table);
  }
  return kept;
}

function kindOf(type: string): ColumnSchema["kind"] {
  return type.split(" ")[0] as ColumnSchema["kind"];
}
