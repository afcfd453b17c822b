import { describe, expect, it } from "vitest";
import { KilnError, q, type Row } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

const PEOPLE = {
  people: {
    name: "text",
    age: "number",
    member: "bool",
    born: "date",
    seen: "datetime",
    data: "object",
  },
};

const ROWS = [
  {
    name: "Ada",
    age: 36,
    member: true,
    born: "1815-12-10",
    seen: new Date("2025-01-01T10:00:00Z"),
    data: { k: 1 },
  },
  {
    name: "alan",
    age: 41,
    member: false,
    born: "1912-06-23",
    seen: new Date("2025-01-02T10:00:00Z"),
    data: { k: 2 },
  },
  { name: "Grace", age: 85, member: true, born: "1906-12-09", seen: null, data: null },
  {
    name: "Linus",
    age: null,
    member: null,
    born: null,
    seen: new Date("2025-01-03T10:00:00Z"),
    data: { k: 1 },
  },
  { name: null, age: 20, member: false, born: "2004-02-29", seen: null, data: null },
  { name: "100% sure_thing", age: 0, member: true, born: null, seen: null, data: [1, 2] },
];

/** An app with the people table holding ROWS; `names` searches it and gives the names. */
async function people(dialect: Awaited<ReturnType<typeof testDialects>>[number]) {
  const made = await tablesApp(dialect, PEOPLE);
  const { tables } = made;
  for (const row of ROWS) await tables.people.addRow(row);
  const names = async (filters?: unknown, options?: object): Promise<(string | null)[]> => {
    const rows = await tables.people.search(filters as never, options).toArray();
    return rows.map((r) => r.name as string | null);
  };
  return { ...made, names };
}

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KilnError);
    return (error as KilnError).code;
  }
  return undefined;
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: search`, () => {
    it("no filters finds every row, in the order they were added", async () => {
      const { tables, names } = await people(dialect);
      expect(await names()).toEqual(ROWS.map((r) => r.name));
      expect(await tables.people.search().count()).toBe(6);
      expect(await tables.people.search().length).toBe(6);
    });

    it("equality filters are ANDed; null matches null; a Date matches a datetime exactly", async () => {
      const { names } = await people(dialect);
      expect(await names({ member: true })).toEqual(["Ada", "Grace", "100% sure_thing"]);
      expect(await names({ member: true, age: 85 })).toEqual(["Grace"]);
      expect(await names({ name: null })).toEqual([null]);
      expect(await names({ member: null })).toEqual(["Linus"]);
      expect(await names({ seen: new Date("2025-01-02T10:00:00Z") })).toEqual(["alan"]);
      expect(await names({ born: "1906-12-09" })).toEqual(["Grace"]);
      expect(await names({ data: { k: 1 } })).toEqual(["Ada", "Linus"]);
      expect(await names({ name: "ada" })).toEqual([]);
    });

    it("q.like is case-sensitive and q.ilike is not, with % and _ and \\ escapes", async () => {
      const { names } = await people(dialect);
      expect(await names({ name: q.like("A%") })).toEqual(["Ada"]);
      expect(await names({ name: q.like("a%") })).toEqual(["alan"]);
      expect(await names({ name: q.ilike("a%") })).toEqual(["Ada", "alan"]);
      expect(await names({ name: q.ilike("%A%") })).toEqual(["Ada", "alan", "Grace"]);
      expect(await names({ name: q.like("_race") })).toEqual(["Grace"]);
      expect(await names({ name: q.like("100\\%%") })).toEqual(["100% sure_thing"]);
      expect(await names({ name: q.like("%e\\_t%") })).toEqual(["100% sure_thing"]);
      expect(await names({ name: q.like("%e_t%") })).toEqual(["100% sure_thing"]);
      expect(await names({ name: q.like("%x\\_%") })).toEqual([]);
    });

    it("q.ilike folds non-ASCII case too", async () => {
      const { tables } = await tablesApp(dialect, PEOPLE);
      await tables.people.addRow({ name: "ÉMILE" });
      expect((await tables.people.search({ name: q.ilike("émile") }).toArray()).length).toBe(1);
      expect((await tables.people.search({ name: q.like("émile") }).toArray()).length).toBe(0);
    });

    it("comparisons on numbers, dates, datetimes and text", async () => {
      const { names } = await people(dialect);
      expect(await names({ age: q.greaterThan(40) })).toEqual(["alan", "Grace"]);
      expect(await names({ age: q.greaterThanOrEqualTo(41) })).toEqual(["alan", "Grace"]);
      expect(await names({ age: q.lessThan(20) })).toEqual(["100% sure_thing"]);
      expect(await names({ age: q.lessThanOrEqualTo(20) })).toEqual([null, "100% sure_thing"]);
      expect(await names({ born: q.lessThan("1900-01-01") })).toEqual(["Ada"]);
      expect(await names({ seen: q.greaterThan(new Date("2025-01-01T10:00:00Z")) })).toEqual([
        "alan",
        "Linus",
      ]);
      expect(await names({ name: q.greaterThan("a") })).toEqual(["alan"]);
    });

    it("q.between includes min and excludes max by default; both ends can be chosen", async () => {
      const { names } = await people(dialect);
      expect(await names({ age: q.between(36, 85) })).toEqual(["Ada", "alan"]);
      expect(await names({ age: q.between(36, 85, false, true) })).toEqual(["alan", "Grace"]);
      expect(await names({ age: q.between(36, 85, true, true) })).toEqual(["Ada", "alan", "Grace"]);
      expect(await names({ born: q.between("1900-01-01", "2000-01-01") })).toEqual([
        "alan",
        "Grace",
      ]);
    });

    it("q.anyOf and q.noneOf take values; q.noneOf and q.not match nulls", async () => {
      const { names } = await people(dialect);
      expect(await names({ age: q.anyOf(36, 85, 1000) })).toEqual(["Ada", "Grace"]);
      expect(await names({ age: q.anyOf(36, null) })).toEqual(["Ada", "Linus"]);
      expect(await names({ age: q.anyOf() })).toEqual([]);
      expect(await names({ age: q.noneOf(36, 85) })).toEqual([
        "alan",
        "Linus",
        null,
        "100% sure_thing",
      ]);
      expect(await names({ member: q.not(true) })).toEqual(["alan", "Linus", null]);
      expect(await names({ name: q.not(q.ilike("a%")) })).toEqual([
        "Grace",
        "Linus",
        null,
        "100% sure_thing",
      ]);
    });

    it("q.anyOf of queries ORs them, q.allOf ANDs them, and they nest", async () => {
      const { names } = await people(dialect);
      expect(await names({ age: q.anyOf(q.lessThan(21), q.greaterThan(80)) })).toEqual([
        "Grace",
        null,
        "100% sure_thing",
      ]);
      expect(await names({ age: q.allOf(q.greaterThan(30), q.lessThan(50)) })).toEqual([
        "Ada",
        "alan",
      ]);
      expect(await names({ age: q.anyOf(q.allOf(q.greaterThan(30), q.lessThan(40)), 85) })).toEqual(
        ["Ada", "Grace"],
      );
      expect(await names({ age: q.noneOf(q.lessThan(21), q.greaterThan(80)) })).toEqual([
        "Ada",
        "alan",
        "Linus",
      ]);
    });

    it("q.anyOf of filter objects ORs across columns", async () => {
      const { names } = await people(dialect);
      expect(await names(q.anyOf({ name: "Ada" }, { age: 85 }))).toEqual(["Ada", "Grace"]);
      expect(await names(q.allOf({ member: true }, q.anyOf({ age: 0 }, { age: 36 })))).toEqual([
        "Ada",
        "100% sure_thing",
      ]);
      expect(await names(q.not({ member: true }))).toEqual(["alan", "Linus", null]);
    });

    it("q.fullTextMatch finds rows containing every word, ignoring case", async () => {
      const { tables } = await tablesApp(dialect, { notes: { text: "text" } });
      for (const text of ["The quick brown fox", "a QUICK study", "brown bread", null]) {
        await tables.notes.addRow({ text });
      }
      const found = async (query: string) =>
        (await tables.notes.search({ text: q.fullTextMatch(query) }).toArray()).map((r) => r.text);
      expect(await found("quick")).toEqual(["The quick brown fox", "a QUICK study"]);
      expect(await found("Brown, quick!")).toEqual(["The quick brown fox"]);
      expect(await found("zebra")).toEqual([]);
    });

    it("orderBy a column, descending, several columns; nulls sort as the smallest value", async () => {
      const { names } = await people(dialect);
      expect(await names({}, { orderBy: "age" })).toEqual([
        "Linus",
        "100% sure_thing",
        null,
        "Ada",
        "alan",
        "Grace",
      ]);
      expect(await names({}, { orderBy: { column: "age", ascending: false } })).toEqual([
        "Grace",
        "alan",
        "Ada",
        null,
        "100% sure_thing",
        "Linus",
      ]);
      expect(
        await names({}, { orderBy: ["member", { column: "name", ascending: false }] }),
      ).toEqual(["Linus", "alan", null, "Grace", "Ada", "100% sure_thing"]);
      expect(await names({}, { orderBy: "name" })).toEqual([
        null,
        "100% sure_thing",
        "Ada",
        "Grace",
        "Linus",
        "alan",
      ]);
    });

    it("limit and offset, also for count", async () => {
      const { tables, names } = await people(dialect);
      expect(await names({}, { orderBy: "age", limit: 2, offset: 1 })).toEqual([
        "100% sure_thing",
        null,
      ]);
      expect(await tables.people.search({}, { limit: 4, offset: 3 }).count()).toBe(3);
      expect(await tables.people.search({}, { offset: 5 }).count()).toBe(1);
      expect(await names({}, { offset: 5 })).toEqual(["100% sure_thing"]);
      expect(await names({}, { limit: 0 })).toEqual([]);
    });

    it("get returns the one match or null, and KILN_MULTIPLE_ROWS for several", async () => {
      const { tables } = await people(dialect);
      expect((await tables.people.get({ name: "Grace" }))!.age).toBe(85);
      expect(await tables.people.get({ name: "Nobody" })).toBeNull();
      const error = await tables.people.get({ member: true }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "KILN_MULTIPLE_ROWS", table: "people" });
    });

    it("large results are fetched a page at a time, in order, without repeats", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, {
        items: { n: "number", group: "text" },
      });
      await inTransaction(async () => {
        for (let i = 0; i < 1234; i++)
          await tables.items.addRow({ n: i % 100, group: i % 3 ? "a" : null });
      });
      const seen: number[] = [];
      let previous: Row | null = null;
      for await (const row of tables.items.search(
        {},
        { orderBy: [{ column: "n", ascending: false }, "group"] },
      )) {
        if (previous) expect(previous.n as number).toBeGreaterThanOrEqual(row.n as number);
        seen.push(JSON.parse(row.id)[1]);
        previous = row;
      }
      expect(seen.length).toBe(1234);
      expect(new Set(seen).size).toBe(1234);
      expect(await tables.items.search({ group: "a" }, { offset: 10, limit: 700 }).count()).toBe(
        700,
      );
      const limited = await tables.items.search({}, { limit: 600, offset: 100 }).toArray();
      expect(limited.length).toBe(600);
      expect(
        JSON.parse(limited[0]!.id)[1] -
          JSON.parse((await tables.items.search({}, { limit: 1 }).toArray())[0]!.id)[1],
      ).toBe(100);
    });

    it("iteration can stop early, and rows added meanwhile do not break it", async () => {
      const { tables } = await people(dialect);
      const seen: string[] = [];
      for await (const row of tables.people.search({ member: true })) {
        seen.push(row.name as string);
        await tables.people.addRow({ name: "late", member: true });
        if (seen.length === 2) break;
      }
      expect(seen).toEqual(["Ada", "Grace"]);
    });

    it("search is lazy: nothing runs until it is used, and it can be used twice", async () => {
      const { tables } = await people(dialect);
      const result = tables.people.search({ member: true });
      await tables.people.addRow({ name: "Later", member: true });
      expect(await result.count()).toBe(4);
      expect((await result.toArray()).length).toBe(4);
      expect((await result.toArray()).length).toBe(4);
    });

    it("bad searches are errors naming the table, column and type", async () => {
      const { tables } = await people(dialect);
      const cases: [() => unknown, string, object][] = [
        [() => tables.people.search({ nope: 1 }), "KILN_UNKNOWN_COLUMN", { column: "nope" }],
        // `id` is a filter now (a row or its id text): a number is a bad value, not a column.
        [() => tables.people.search({ id: 1 }), "KILN_BAD_VALUE", { column: "id" }],
        [
          () => tables.people.search({ age: "36" }),
          "KILN_BAD_VALUE",
          { column: "age", columnType: "number" },
        ],
        [() => tables.people.search({ age: undefined }), "KILN_BAD_VALUE", { column: "age" }],
        [
          () => tables.people.search({ age: q.like("3%") }),
          "KILN_BAD_QUERY",
          { column: "age", columnType: "number" },
        ],
        [
          () => tables.people.search({ member: q.greaterThan(true) }),
          "KILN_BAD_QUERY",
          { column: "member" },
        ],
        [
          () => tables.people.search({ data: q.greaterThan(1) }),
          "KILN_BAD_QUERY",
          { column: "data" },
        ],
        [
          () => tables.people.search({ age: q.greaterThan(null) }),
          "KILN_BAD_VALUE",
          { column: "age" },
        ],
        [
          () => tables.people.search({ name: q.like(5 as never) }),
          "KILN_BAD_VALUE",
          { column: "name" },
        ],
        [
          () => tables.people.search({ name: q.like("abc\\") }),
          "KILN_BAD_QUERY",
          // What a client typed: answered 400 inside an endpoint.
          { column: "name", status: 400 },
        ],
        [
          () => tables.people.search({ age: q.between(1, 2, "yes" as never) }),
          "KILN_BAD_QUERY",
          { column: "age" },
        ],
        [() => tables.people.search(q.like("x") as never), "KILN_BAD_QUERY", { table: "people" }],
        [() => tables.people.search([] as never), "KILN_BAD_QUERY", { table: "people" }],
        [
          () => tables.people.search({}, { orderBy: "nope" }),
          "KILN_UNKNOWN_COLUMN",
          { column: "nope" },
        ],
        [
          () => tables.people.search({}, { orderBy: "data" }),
          "KILN_BAD_QUERY",
          // A mistake in the code: a 500.
          { column: "data", status: 500 },
        ],
        [
          () => tables.people.search({}, { limit: -1 }),
          "KILN_BAD_QUERY",
          { table: "people", status: 400 },
        ],
        [() => tables.people.search({}, { offset: 1.5 }), "KILN_BAD_QUERY", { table: "people" }],
        [() => tables.people.get(undefined as never), "KILN_BAD_QUERY", { table: "people" }],
      ];
      for (const [fn, code, details] of cases) {
        const error = await Promise.resolve()
          .then(fn)
          .catch((e: unknown) => e);
        expect(error, String(fn)).toBeInstanceOf(KilnError);
        expect(error, String(fn)).toMatchObject({ code, ...details });
      }
      expect(
        await codeOf(() => tables.people.search({ name: q.like("x%") }).toArray()),
      ).toBeUndefined();
    });

    it("values that look like SQL are only ever values", async () => {
      const { tables, names } = await people(dialect);
      const evil = "x'); drop table data_people; --";
      await tables.people.addRow({ name: evil });
      expect(await names({ name: evil })).toEqual([evil]);
      expect(await names({ name: q.like(`%${evil.slice(0, 5)}%`) })).toEqual([evil]);
      expect(await tables.people.search().count()).toBe(7);
    });
  });
}
