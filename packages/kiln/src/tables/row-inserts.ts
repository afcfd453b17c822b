import type { CompiledQuery } from "kysely";
import type { Dialect } from "./dialect.ts";
import type { LinkChanges } from "./link-changes.ts";
import { linkRowsOf } from "./links-store.ts";
import { physicalTable } from "./names.ts";
import type { RowMaker } from "./row-maker.ts";
import type { ColumnSchema } from "./schema.ts";
import type { TableImpl } from "./table.ts";
import type { Maybe, TableQueries } from "./table-queries.ts";
import { runInTransaction } from "./transaction.ts";
import type { Row } from "./types.ts";
import type { Write } from "./write-values.ts";

/** Rows per multi-row INSERT of addRows, and parameters per statement (under both backends' limits). */
const ROWS_PER_INSERT = 100;
const PARAMS_PER_INSERT = 10_000;

/** Runs a write in a savepoint when the table's writes need one (see TableImpl). */
export type Savepoint = <T>(write: () => Maybe<T>) => Promise<T>;

/**
 * The INSERTs of one table's rows: compiled once per shape (columns given, rows per statement),
 * and many rows at once in multi-row statements (addRows, and addRow with links).
 */
export class RowInserts {
  readonly #queries: TableQueries;
  readonly #dialect: Dialect;
  readonly #maker: RowMaker;
  readonly #links: LinkChanges;
  readonly #savepoint: Savepoint;
  readonly #physical: string;
  /** The last INSERT used: a loop of addRow finds it without building a cache key. */
  #lastInsert: { names: readonly string[]; rows: number; compiled: CompiledQuery } | null = null;

  constructor(
    table: TableImpl,
    queries: TableQueries,
    dialect: Dialect,
    maker: RowMaker,
    links: LinkChanges,
    savepoint: Savepoint,
  ) {
    this.#queries = queries;
    this.#dialect = dialect;
    this.#maker = maker;
    this.#links = links;
    this.#savepoint = savepoint;
    this.#physical = physicalTable(table.name);
  }

  /** The compiled INSERT of `rows` rows with these columns, made once per shape. */
  statement(names: readonly string[], rows: number): CompiledQuery {
    const last = this.#lastInsert;
    if (last && last.rows === rows && sameNames(last.names, names)) return last.compiled;
    const compiled = this.#queries.compile(`insert:${rows}:${names.join(",")}`, () => {
      if (!names.length)
        return this.#queries.db.insertInto(this.#physical).defaultValues().returning("id");
      const values = Array.from({ length: rows }, () => placeholders(names));
      return this.#queries.db.insertInto(this.#physical).values(values).returning("id");
    });
    this.#lastInsert = { names, rows, compiled };
    return compiled;
  }

  /** Inserts checked rows, then their links, in one transaction (see addRows). */
  addAll(writes: readonly Write[]): Promise<Row[]> {
    return runInTransaction(this.#dialect, () =>
      this.#savepoint(async () => {
        const added: Row[] = [];
        const links = new Map<ColumnSchema, [number, number, number][]>();
        for (let start = 0; start < writes.length; ) {
          const names = writes[start]!.names;
          const max = names.length
            ? Math.min(ROWS_PER_INSERT, Math.floor(PARAMS_PER_INSERT / names.length))
            : 1;
          let end = start + 1;
          while (end < writes.length && end - start < max && sameNames(writes[end]!.names, names))
            end++;
          const params: unknown[] = [];
          for (let i = start; i < end; i++) params.push(...writes[i]!.params);
          const run = this.#queries.run(this.statement(names, end - start), params);
          const result = run instanceof Promise ? await run : run;
          // One statement's ids are given in the order of its VALUES rows, on both backends.
          const ids = result.rows
            .map((r) => Number((r as { id: unknown }).id))
            .sort((a, b) => a - b);
          for (let i = start; i < end; i++) {
            const rowId = ids[i - start]!;
            added.push(this.#maker.added(rowId, writes[i]!.values));
            for (const [column, targets] of writes[i]!.lists) {
              if (!targets?.length) continue;
              const rows = links.get(column) ?? [];
              links.set(column, rows);
              for (const link of linkRowsOf(rowId, targets)) rows.push(link);
            }
          }
          start = end;
        }
        for (const [column, rows] of links) await this.#links.insert(column, rows);
        return added;
      }),
    );
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `{ a: 0, b: 1 }`: values whose compiled parameters are replaced on each run. */
export function placeholders(names: readonly string[]): Record<string, number> {
  return Object.fromEntries(names.map((name, i) => [name, i]));
}
