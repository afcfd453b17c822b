/**
 * Data tables against the same operations hand-written on raw better-sqlite3 (prepared
 * statements, no abstraction), in one process, on two SQLite files with the same settings:
 *
 *   npm run bench:tables            (BENCH_ROWS=100000 by default)
 *
 * Operations: bulk insert of BENCH_ROWS rows in one transaction (a loop of addRow, and addRows
 * of 1000 rows at a time, both against a loop of one prepared INSERT); single-row insert (its own
 * transaction each); getById; search by an indexed equality filter (about 10 rows each); a
 * full paged scan; row.update; a paged list with its total (toPage); "links contains X" and
 * the count of a links list, against hand-written joins on the same join-table layout as
 * Kiln's (BENCH_ONLY=links runs those three alone). Each figure is CPU time per operation
 * (user + system, steadier than wall time on a shared machine), best of 3 rounds that
 * alternate Kiln and raw. The ratio is raw time / Kiln time: 1.0 means as fast as hand-written
 * SQL.
 * Goals (issue 3): >= 0.5x for single-row reads and writes, >= 0.8x for bulk inserts.
 *
 * Both sides use synchronous=NORMAL so the figures show Kiln's own cost: with Kiln's default
 * FULL, each single-row write waits for an fsync on both sides and the ratios look better.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

process.env.KILN_SQLITE_SYNCHRONOUS = "normal";

const { openTables } = await import("../packages/kiln/src/tables/index.ts");
const { builtInTables } = await import("../packages/kiln/src/app/built-in-tables.ts");
const { openSqliteFile } = await import("../packages/kiln/src/tables/dialects/sqlite.ts");
const { printTable, writeReport } = await import("./lib/report.ts");

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const TAGS = Math.max(1, Math.floor(ROWS / 10));
const ROUNDS = 3;
/** Runs only the operations whose name contains it, or one of its |-separated parts: BENCH_ONLY=links. */
const ONLY = process.env.BENCH_ONLY;
const dir = mkdtempSync(join(tmpdir(), "kiln-bench-tables-"));

const kiln = await openTables({
  builtIns: builtInTables,
  dataDir: join(dir, "kiln"),
  tables: {
    items: { title: "text", n: "number", tag: { type: "text", index: true }, done: "bool" },
  },
});
const items = kiln.tables.items;

// The hand-written peer: the same pragmas, table and index, statements prepared once.
const raw = openSqliteFile(join(dir, "raw.db"));
raw.exec(`create table items (id integer primary key autoincrement, title text, n real, tag text, done integer);
create index items_tag on items (tag);`);
const rawInsert = raw.prepare(
  "insert into items (title, n, tag, done) values (?, ?, ?, ?) returning id",
);
const rawGet = raw.prepare("select id, title, n, tag, done from items where id = ?");
const rawByTag = raw.prepare("select id, title, n, tag, done from items where tag = ? order by id");
const rawScan = raw.prepare("select id, title, n, tag, done from items order by id");
const rawUpdate = raw.prepare("update items set n = ? where id = ?");

const row = (i: number) => ({
  title: `item ${i}`,
  n: i,
  tag: `tag-${i % TAGS}`,
  done: i % 2 === 0,
});

/** CPU microseconds per operation for `ops` operations done by fn. */
async function cpuPerOp(ops: number, fn: () => Promise<void> | void): Promise<number> {
  const start = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / ops;
}

interface Figure {
  operation: string;
  ops: number;
  kilnMicros: number;
  rawMicros: number;
  ratio: number;
  goal: number | null;
}
const figures: Figure[] = [];

async function compare(
  operation: string,
  ops: number,
  goal: number | null,
  kilnRun: (round: number) => Promise<void>,
  rawRun: (round: number) => void,
): Promise<void> {
  if (ONLY && !ONLY.split("|").some((part) => operation.includes(part))) return;
  let kilnBest = Number.POSITIVE_INFINITY;
  let rawBest = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    rawBest = Math.min(rawBest, await cpuPerOp(ops, () => rawRun(round)));
    kilnBest = Math.min(kilnBest, await cpuPerOp(ops, () => kilnRun(round)));
  }
  figures.push({
    operation,
    ops,
    kilnMicros: kilnBest,
    rawMicros: rawBest,
    ratio: rawBest / kilnBest,
    goal,
  });
}

// Bulk insert: ROWS rows per round, each round into an emptied table.
await compare(
  `bulk insert ${ROWS} rows, addRow loop`,
  ROWS,
  null,
  async () => {
    await items.deleteAllRows();
    await kiln.inTransaction(async () => {
      for (let i = 0; i < ROWS; i++) await items.addRow(row(i));
    });
  },
  () => {
    raw.exec("delete from items");
    raw.transaction(() => {
      for (let i = 0; i < ROWS; i++) {
        const r = row(i);
        rawInsert.get(r.title, r.n, r.tag, r.done ? 1 : 0);
      }
    })();
  },
);

// The same, with the batch API: addRows of 1000 rows at a time.
await compare(
  `bulk insert ${ROWS} rows, addRows`,
  ROWS,
  0.8,
  async () => {
    await items.deleteAllRows();
    await kiln.inTransaction(async () => {
      for (let i = 0; i < ROWS; i += 1000) {
        await items.addRows(Array.from({ length: Math.min(1000, ROWS - i) }, (_, k) => row(i + k)));
      }
    });
  },
  () => {
    raw.exec("delete from items");
    raw.transaction(() => {
      for (let i = 0; i < ROWS; i++) {
        const r = row(i);
        rawInsert.get(r.title, r.n, r.tag, r.done ? 1 : 0);
      }
    })();
  },
);

const kilnIds = (await items.search({}, { limit: ROWS }).toArray()).map((r) => r.id);
const rawIds = raw.prepare("select id from items").pluck().all() as number[];
const pick = <T>(list: T[], i: number) => list[(i * 7919) % list.length]!;

const SINGLE = 5000;
await compare(
  "addRow (own transaction)",
  SINGLE,
  0.5,
  async () => {
    for (let i = 0; i < SINGLE; i++) await items.addRow(row(i));
  },
  () => {
    for (let i = 0; i < SINGLE; i++) {
      const r = row(i);
      rawInsert.get(r.title, r.n, r.tag, r.done ? 1 : 0);
    }
  },
);

const READS = 20_000;
await compare(
  "getById",
  READS,
  0.5,
  async () => {
    for (let i = 0; i < READS; i++) await items.getById(pick(kilnIds, i));
  },
  () => {
    for (let i = 0; i < READS; i++) rawGet.get(pick(rawIds, i));
  },
);

await compare(
  "row.update (one column)",
  SINGLE,
  0.5,
  async () => {
    const rows = await items.search({}, { limit: SINGLE }).toArray();
    for (let i = 0; i < SINGLE; i++) await rows[i]!.update({ n: i });
  },
  () => {
    for (let i = 0; i < SINGLE; i++) rawUpdate.run(i, rawIds[i]);
  },
);

const scanned = { kiln: 0, raw: 0 };
const SEARCHES = 5000;
await compare(
  "search indexed equality (~10 rows)",
  SEARCHES,
  null,
  async () => {
    for (let i = 0; i < SEARCHES; i++)
      await items.search({ tag: `tag-${(i * 31) % TAGS}` }).toArray();
  },
  () => {
    for (let i = 0; i < SEARCHES; i++) rawByTag.all(`tag-${(i * 31) % TAGS}`);
  },
);

await compare(
  `paged scan of ${ROWS + SINGLE * ROUNDS}+ rows (per row)`,
  ROWS,
  null,
  async () => {
    scanned.kiln = 0;
    for await (const _ of items.search()) scanned.kiln++;
  },
  () => {
    scanned.raw = 0;
    for (const _ of rawScan.iterate()) scanned.raw++;
  },
);

if (scanned.kiln !== scanned.raw) throw new Error(`scans differ: ${JSON.stringify(scanned)}`);

// A paged list with its total: Kiln's toPage() against the two hand-written queries (the
// page, and count(*) of every matching row). `done` matches half the rows, so the total
// always needs its count.
const PAGES = 200;
const rawPage = raw.prepare(
  "select id, title, n, tag, done from items where done = ? order by n, id limit 20 offset ?",
);
const rawTotal = raw.prepare("select count(*) as n from items where done = ?");
await compare(
  "paged list (20 rows) with its total",
  PAGES,
  0.5,
  async () => {
    for (let i = 0; i < PAGES; i++) {
      await items.search({ done: true }, { orderBy: "n", limit: 20, offset: i * 20 }).toPage();
    }
  },
  () => {
    for (let i = 0; i < PAGES; i++) {
      rawPage.all(1, i * 20);
      rawTotal.get(1);
    }
  },
);

// Links: ROWS articles, each tagged with 3 of 1000 tags, and one article with 5000 fans.
// The hand-written peer keeps them as an indexed join table, as an ORM would.
const TAG_COUNT = 1000;
const FANS = 5000;
const links = await openTables({
  builtIns: builtInTables,
  dataDir: join(dir, "links"),
  tables: {
    tags: { name: "text" },
    articles: { title: "text", tags: "links tags", fans: "links users" },
  },
});
const linkTags = await links.tables.tags.addRows(
  Array.from({ length: TAG_COUNT }, (_, i) => ({ name: `t${i}` })),
);
const fans = await links.tables.users.addRows(
  Array.from({ length: FANS }, (_, i) => ({ email: `fan${i}@example.com` })),
);
const tagsOf = (i: number) => [i % TAG_COUNT, (i * 7) % TAG_COUNT, (i * 13 + 1) % TAG_COUNT];
await links.inTransaction(async () => {
  for (let i = 0; i < ROWS; i += 1000) {
    await links.tables.articles.addRows(
      Array.from({ length: Math.min(1000, ROWS - i) }, (_, k) => ({
        title: `a${i + k}`,
        tags: [...new Set(tagsOf(i + k))].map((t) => linkTags[t]!),
      })),
    );
  }
});
const popular = await links.tables.articles.addRow({ title: "popular", fans });
// The same layout as Kiln's join tables: (row, linked row, position), primary key (row,
// linked row) without rowid, an index (linked row, row).
raw.exec(`create table tags (id integer primary key autoincrement, name text);
create table articles (id integer primary key autoincrement, title text);
create table article_tags (row_id integer not null, target_id integer not null, position integer not null, primary key (row_id, target_id)) without rowid;
create index article_tags_target on article_tags (target_id, row_id);
create table article_fans (row_id integer not null, target_id integer not null, position integer not null, primary key (row_id, target_id)) without rowid;
create index article_fans_target on article_fans (target_id, row_id);`);
raw.transaction(() => {
  const tag = raw.prepare("insert into tags (name) values (?)");
  for (let t = 0; t < TAG_COUNT; t++) tag.run(`t${t}`);
  const article = raw.prepare("insert into articles (title) values (?) returning id");
  const link = raw.prepare(
    "insert into article_tags (row_id, target_id, position) values (?, ?, ?)",
  );
  for (let i = 0; i < ROWS; i++) {
    const { id } = article.get(`a${i}`) as { id: number };
    const tags = [...new Set(tagsOf(i))];
    for (let p = 0; p < tags.length; p++) link.run(id, tags[p]! + 1, p + 1);
  }
  const { id } = article.get("popular") as { id: number };
  const fan = raw.prepare(
    "insert into article_fans (row_id, target_id, position) values (?, ?, ?)",
  );
  for (let u = 1; u <= FANS; u++) fan.run(id, u, u);
})();
const popularId = (
  raw.prepare("select id from articles where title = 'popular'").get() as { id: number }
).id;

const CONTAINS = 50;
// The indexed join an app would write: count the articles that have the tag.
const rawContainsCount = raw.prepare(
  "select count(*) as n from articles a join article_tags x on x.row_id = a.id where x.target_id = ?",
);
await compare(
  `links contains X at ${ROWS} rows (count)`,
  CONTAINS,
  0.5,
  async () => {
    for (let i = 0; i < CONTAINS; i++) {
      await links.tables.articles.search({ tags: linkTags[(i * 37) % TAG_COUNT]! }).count();
    }
  },
  () => {
    for (let i = 0; i < CONTAINS; i++) rawContainsCount.get(((i * 37) % TAG_COUNT) + 1);
  },
);
// The first 20 articles with the tag, each with its tags (as Kiln's rows have them): the page,
// then the tags of its articles in list order.
const rawContainsPage = raw.prepare(
  "select a.id, a.title from articles a join article_tags x on x.row_id = a.id where x.target_id = ? order by a.id limit 20",
);
const rawPageTags = raw.prepare(
  "select x.row_id, t.id, t.name from article_tags x join tags t on t.id = x.target_id where x.row_id in (select value from json_each(?)) order by x.row_id, x.position",
);
await compare(
  `links contains X at ${ROWS} rows (first 20 rows, links loaded)`,
  CONTAINS,
  0.5,
  async () => {
    for (let i = 0; i < CONTAINS; i++) {
      await links.tables.articles
        .search({ tags: linkTags[(i * 37 + 500) % TAG_COUNT]! }, { limit: 20 })
        .toArray();
    }
  },
  () => {
    for (let i = 0; i < CONTAINS; i++) {
      const page = rawContainsPage.all(((i * 37 + 500) % TAG_COUNT) + 1) as { id: number }[];
      rawPageTags.all(JSON.stringify(page.map((a) => a.id)));
    }
  },
);
const COUNTS = 500;
const rawFanCount = raw.prepare("select count(*) as n from article_fans where row_id = ?");
await compare(
  `count of a links list (${FANS} links)`,
  COUNTS,
  0.5,
  async () => {
    for (let i = 0; i < COUNTS; i++) await links.tables.articles.countLinks(popular, "fans");
  },
  () => {
    for (let i = 0; i < COUNTS; i++) rawFanCount.get(popularId);
  },
);
await links.close();

printTable([
  ["operation", "Kiln µs/op", "raw µs/op", "ratio", "goal"],
  ...figures.map((f) => [
    f.operation,
    f.kilnMicros.toFixed(2),
    f.rawMicros.toFixed(2),
    `${f.ratio.toFixed(2)}x`,
    f.goal === null ? "-" : `>= ${f.goal}x${f.ratio >= f.goal ? " ok" : " MISSED"}`,
  ]),
]);
const file = writeReport("tables", { rows: ROWS, synchronous: "NORMAL", figures });
console.log(`\n(CPU time per operation, best of ${ROUNDS}; report: ${file})`);

await kiln.close();
raw.close();
rmSync(dir, { recursive: true, force: true });
