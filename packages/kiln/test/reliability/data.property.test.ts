import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cookies, createApp, type KilnApp, request, tables } from "../../src/index.ts";
import type { TablesService } from "../../src/tables/index.ts";
import { type TestDatabase, testDialects } from "../support/dialects.ts";

/**
 * Property tests (fast-check) over arbitrary inputs: row ids, CSV export then import, cookie
 * values through a real browser round trip, and Basic credentials through the HTTP pipeline.
 * Tables run on every backend the suite has (SQLite; PostgreSQL per KILN_TEST_PG).
 */

const COLUMNS = {
  t: "text",
  n: "number",
  b: "bool",
  d: "date",
  dt: "datetime",
  o: "object",
};

/** Text a column can hold: well-formed Unicode (any script, emoji, controls) without U+0000. */
const text = fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) => !s.includes("\0"));
/** JSON without U+0000 in any string (no backend's text can hold it). */
const json = fc
  .jsonValue({ maxDepth: 3, depthSize: "small" })
  .filter((value) => !JSON.stringify(value).includes("\\u0000"));
const values = fc.record({
  t: fc.option(text),
  n: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true })),
  b: fc.option(fc.boolean()),
  d: fc.option(
    fc
      .date({ min: new Date("0001-01-01"), max: new Date("9999-12-31"), noInvalidDate: true })
      .map((date) => date.toISOString().slice(0, 10)),
  ),
  dt: fc.option(
    fc.date({ min: new Date("0001-01-01"), max: new Date("9999-12-31"), noInvalidDate: true }),
  ),
  o: fc.option(json),
});
type Values = typeof values extends fc.Arbitrary<infer T> ? T : never;

/** What reading a value back gives: JSON's view of numbers (-0 is 0), dates as given. */
function normalised(row: Values): Record<string, unknown> {
  return {
    ...row,
    n: Object.is(row.n, -0) ? 0 : row.n,
    o: row.o === null ? null : JSON.parse(JSON.stringify(row.o)),
  };
}

function fields(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(COLUMNS)) {
    const value = row[name];
    out[name] = value instanceof Date ? value.toISOString() : (value ?? null);
  }
  return out;
}

const asFields = (row: Values) => {
  const n = normalised(row);
  return fields({ ...n, dt: row.dt });
};

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: row ids and CSV`, () => {
    let app: KilnApp;
    let database: TestDatabase;
    let service: TablesService;

    beforeAll(async () => {
      database = await dialect.freshDatabase();
      app = createApp({
        name: "properties",
        dataDir: database.dataDir,
        databaseUrl: database.databaseUrl,
        logger: false,
        tables: { items: COLUMNS, copies: COLUMNS },
      });
      app.httpEndpoint("/items/:id", async ({ id }) => {
        const row = await tables.items.getById(id);
        return row ? { id: row.id } : null;
      });
      await app.ready();
      service = app.services.tables!;
    });

    afterAll(async () => {
      await app?.close();
      await database?.cleanup();
    });

    it("getById never throws, and finds nothing for what is not a row's id", async () => {
      const lookalike = fc
        .tuple(fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 10n ** 30n })), fc.nat())
        .map(([t, r]) => `[${t},${r}]`);
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.string(), lookalike), async (id) => {
          const row = await app.tables.items.getById(id);
          if (row !== null) expect(row.id).toBe(id);
        }),
        { numRuns: 300 },
      );
    });

    it("a row's id finds that row again, directly and through a URL", async () => {
      await fc.assert(
        fc.asyncProperty(values, async (value) => {
          const row = await app.tables.items.addRow(value);
          expect(row.id).toMatch(/^\[\d+,\d+\]$/);
          const again = await app.tables.items.getById(row.id);
          expect(fields(again as unknown as Record<string, unknown>)).toEqual(asFields(value));
          const res = await app.inject({ url: `/_/api/items/${encodeURIComponent(row.id)}` });
          expect(res.json()).toEqual({ id: row.id });
          await row.delete();
          expect(await app.tables.items.getById(row.id)).toBeNull();
        }),
        {
          numRuns: 100,
          // Found by this property: a `__proto__` key vanished from stored objects.
          examples: [
            [{ t: "", n: -0, b: false, d: null, dt: null, o: JSON.parse('{"__proto__":{"a":1}}') }],
          ],
        },
      );
    });

    it("CSV export then import gives back every value", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(values, { maxLength: 8 }), async (rows) => {
          await app.tables.items.deleteAllRows();
          await app.tables.copies.deleteAllRows();
          for (const row of rows) await app.tables.items.addRow(row);
          const csv = (await app.tables.items.toCsv()).getText();
          const added = await service.importCsv(
            "copies",
            (async function* () {
              yield csv;
            })(),
          );
          expect(added).toBe(rows.length);
          const copied = await app.tables.copies.search().toArray();
          expect(copied.map((row) => fields(row as unknown as Record<string, unknown>))).toEqual(
            rows.map(asFields),
          );
        }),
        { numRuns: 60 },
      );
    });
  });
}

describe("cookies and Basic credentials over HTTP", () => {
  let app: KilnApp;

  beforeAll(async () => {
    app = createApp({ name: "properties-http", logger: false, secret: "property-test-secret" });
    app.httpEndpoint("/set", { methods: ["POST"] }, () => {
      cookies.local.set("value", (request.bodyJson as { value: unknown }).value);
      return "ok";
    });
    app.httpEndpoint("/get", () => ({ value: cookies.local.get("value") ?? null }));
    app.httpEndpoint("/whoami", { requireAuth: true }, () => ({
      username: request.username,
      password: request.password,
    }));
    await app.ready();
  });

  afterAll(() => app?.close());

  it("any JSON value set in a cookie comes back from the browser exactly", async () => {
    await fc.assert(
      fc.asyncProperty(json, async (value) => {
        const set = await app.inject({
          method: "POST",
          url: "/_/api/set",
          headers: { "content-type": "application/json" },
          payload: JSON.stringify({ value }),
        });
        expect(set.statusCode).toBe(200);
        const cookie = [set.headers["set-cookie"]]
          .flat()
          .map((line) => String(line).split(";", 1)[0])
          .join("; ");
        const got = await app.inject({ url: "/_/api/get", headers: { cookie } });
        expect(JSON.stringify(got.json().value)).toBe(JSON.stringify(value ?? null));
      }),
      { numRuns: 200 },
    );
  });

  it("any credential without control characters reaches the handler exactly", async () => {
    const noControl = text.filter(
      (s) => ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
    );
    await fc.assert(
      fc.asyncProperty(
        noControl.filter((s) => !s.includes(":")),
        noControl,
        async (username, password) => {
          const token = Buffer.from(`${username}:${password}`, "utf8").toString("base64");
          const res = await app.inject({
            url: "/_/api/whoami",
            headers: { authorization: `Basic ${token}` },
          });
          expect(res.statusCode).toBe(200);
          expect(res.json()).toEqual({ username, password });
        },
      ),
      { numRuns: 200 },
    );
  });
});
