import { createReadStream, createWriteStream } from "node:fs";
import { resolve } from "node:path";
import type { Writable } from "node:stream";
import { builtInTables } from "../app/built-in-tables.ts";
import { readKilnYaml } from "../app/config.ts";
import { type Env, resolveConfig } from "../app/resolve-config.ts";
import type { CsvOptions } from "../tables/csv.ts";
import { openTables, type TablesService } from "../tables/index.ts";
import type { TableImpl } from "../tables/table.ts";
import { APP_OPTIONS, type Command, intOption, parseCommandArgs, UsageError } from "./command.ts";

const HELP = `Usage: kiln tables <action> [NAME] [options] [--app DIR] [--data PATH]

Looks at and moves data in and out of the app's data tables. Opening the database brings it to
kiln.yaml's schema as \`kiln start\` does (new tables and columns are added).

Actions:
  list                         every table: rows and columns
  show NAME [--limit N]        the first N rows (default 20) of a table
  export NAME [--out FILE] [--raw]
                               the table as CSV with a header row, to standard output or FILE.
                               Text starting with = + - @, a tab or CR gets a ' in front, so a
                               spreadsheet shows it instead of running it; --raw leaves it out
  import NAME FILE.csv [--raw] add the rows of a CSV file (header row first; an "id" column
                               is ignored), taking away the ' that export added (--raw: keep
                               text as it is). All or nothing; progress on standard error
  migrate [--apply]            show schema changes kiln.yaml asks for that could lose data
                               (removed or retyped columns, removed tables); --apply makes
                               them (removed ones are dropped, retyped ones converted)

Options:
  --app DIR     the app folder (default: the current folder)
  --data PATH   data folder (default $KILN_DATA or DIR/.kiln); DATABASE_URL selects PostgreSQL

Exit codes: 0 ok, 1 failure (unknown table, bad CSV line, database error), 2 usage error.`;

const ACTIONS: Record<string, { args: number; usage: string }> = {
  list: { args: 0, usage: "kiln tables list" },
  show: { args: 1, usage: "kiln tables show NAME [--limit N]" },
  export: { args: 1, usage: "kiln tables export NAME [--out FILE] [--raw]" },
  import: { args: 2, usage: "kiln tables import NAME FILE.csv [--raw]" },
  migrate: { args: 0, usage: "kiln tables migrate [--apply]" },
};

export const tablesCommand: Command = {
  name: "tables",
  summary: "list, show, export and import data tables; migrate the schema",
  help: HELP,
  async run(argv, env) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...APP_OPTIONS,
      limit: { type: "string" },
      csv: { type: "boolean" },
      out: { type: "string" },
      apply: { type: "boolean" },
      raw: { type: "boolean" },
    });
    // --csv was once documented for export but chose nothing (CSV is the only format): it is
    // refused rather than ignored, so that no one believes it changed the output.
    if (values.csv !== undefined) {
      throw new UsageError("--csv is not an option: export always writes CSV (leave --csv out)");
    }
    const [action, ...args] = positionals;
    const spec = action ? ACTIONS[action] : undefined;
    if (!action || !spec)
      throw new UsageError(`expected an action: ${Object.keys(ACTIONS).join(", ")}`);
    if (args.length !== spec.args) throw new UsageError(`usage: ${spec.usage}`);
    const misplaced = (["limit", "out", "apply", "raw"] as const).find(
      (option) => values[option] !== undefined && !spec.usage.includes(`--${option}`),
    );
    if (misplaced) throw new UsageError(`--${misplaced} does not go with ${action}`);
    const limit = intOption(values.limit, "limit", 0, 1_000_000) ?? 20;
    const service = await open(values, action === "migrate" && values.apply === true, env);
    try {
      switch (action) {
        case "list":
          return await list(service);
        case "show":
          return await show(service.table(args[0]!), limit);
        case "export":
          return await exportTable(service, args[0]!, values.out as string | undefined, {
            raw: values.raw === true,
          });
        case "import":
          return await importTable(service, args[0]!, args[1]!, { raw: values.raw === true });
        default:
          return migrateReport(service, values.apply === true);
      }
    } finally {
      await service.close();
    }
  },
};

/** The app's tables service, without the rest of the app (no server modules are loaded). */
function open(
  values: Record<string, string | boolean | undefined>,
  apply: boolean,
  env: Env,
): Promise<TablesService> {
  const dir = resolve((values.app as string | undefined) ?? ".");
  const yaml = readKilnYaml(resolve(dir, "kiln.yaml"));
  const settings = resolveConfig({
    dir,
    ...(values.data ? { dataDir: resolve(values.data as string) } : {}),
    env,
  });
  return openTables({
    dataDir: settings.dataDir,
    databaseUrl: settings.databaseUrl,
    tables: yaml.tables,
    builtIns: builtInTables,
    apply,
    sqlite: settings.sqlite,
    postgres: settings.postgres,
  });
}

async function list(service: TablesService): Promise<number> {
  const tables = [...service.migration.tableIds.keys()].sort();
  const rows: string[][] = [["TABLE", "ROWS", "COLUMNS"]];
  for (const name of tables) {
    const table = service.table(name);
    const columns = table.columns.map((c) => `${c.name} ${c.type}`).join(", ");
    rows.push([name, String(await table.search().count()), columns]);
  }
  console.log(formatTable(rows));
  pendingNote(service);
  return 0;
}

async function show(table: TableImpl, limit: number): Promise<number> {
  const rows = await table.search({}, { limit }).toArray();
  const columns = table.columns.filter((c) => !c.secret);
  const lines = [["id", ...columns.map((c) => c.name)]];
  for (const row of rows) {
    const json = row.toJSON();
    lines.push([row.id, ...columns.map((c) => cell(json[c.name]))]);
  }
  console.log(formatTable(lines));
  const total = await table.search().count();
  if (total > rows.length) console.log(`(${rows.length} of ${total} rows; --limit N shows more)`);
  return 0;
}

async function exportTable(
  service: TablesService,
  name: string,
  out: string | undefined,
  options: CsvOptions,
): Promise<number> {
  const chunks = service.exportCsv(name, options);
  const stream: Writable = out ? createWriteStream(resolve(out)) : process.stdout;
  for await (const chunk of chunks) {
    if (!stream.write(chunk)) await new Promise((drained) => stream.once("drain", drained));
  }
  if (out)
    await new Promise<void>((done, fail) =>
      stream.end((e?: Error | null) => (e ? fail(e) : done())),
    );
  return 0;
}

async function importTable(
  service: TablesService,
  name: string,
  file: string,
  options: CsvOptions,
): Promise<number> {
  const input = createReadStream(resolve(file));
  const started = Date.now();
  const added = await service.importCsv(
    name,
    input,
    (rows) =>
      console.error(
        `kiln tables import: ${rows} rows so far (${((Date.now() - started) / 1000).toFixed(1)}s)`,
      ),
    options,
  );
  console.error(`kiln tables import: added ${added} rows to ${name}`);
  return 0;
}

function migrateReport(service: TablesService, applied: boolean): number {
  const { done, pending } = service.migration;
  for (const line of done) console.log(`done: ${line}`);
  for (const change of pending) console.log(`pending: ${change.description}`);
  if (pending.length) console.log("Run `kiln tables migrate --apply` to make these changes.");
  else if (!done.length) console.log("The database matches kiln.yaml.");
  else if (applied) console.log("The database now matches kiln.yaml.");
  return 0;
}

function pendingNote(service: TablesService): void {
  const n = service.migration.pending.length;
  if (n)
    console.error(
      `note: ${n} schema change(s) could lose data and wait for \`kiln tables migrate --apply\` (see \`kiln tables migrate\`)`,
    );
}

/** A cell of `show`: JSON for non-strings, cut to a screen-friendly width. */
function cell(value: unknown): string {
  const text = value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
  const flat = text.replace(/\s+/g, " ");
  return flat.length > 40 ? `${flat.slice(0, 39)}…` : flat;
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
