import { describe, expect, it } from "vitest";
import { KilnError, q } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

/**
 * Searches built from request input that are too large for the database (a huge
 * `q.fullTextMatch`, tens of thousands of conditions, a pattern SQLite refuses): a 400 with a
 * message naming the limit over real HTTP, never a 500, on both backends.
 */

const NOTES = { notes: { text: "text", n: "number" } };

interface Answer {
  status: number;
  body: { error?: string; count?: number; id?: string };
}

async function searchApp(dialect: Awaited<ReturnType<typeof testDialects>>[number]) {
  const { app, tables } = await tablesApp(dialect, NOTES, {
    setup(app) {
      app.httpEndpoint("/search", { methods: ["POST"] }, async (_params, { body, tables }) => {
        const { words, pattern, above } = body as {
          words?: string;
          pattern?: string;
          above?: number[];
        };
        const filter = words
          ? { text: q.fullTextMatch(words) }
          : pattern
            ? { text: q.like(pattern) }
            : { n: q.anyOf(...(above ?? []).map((n) => q.greaterThan(n))) };
        return { count: (await tables.notes.search(filter).toArray()).length };
      });
    },
  });
  await tables.notes.addRow({ text: "the quick brown fox", n: 1 });
  const url = await app.listen({ port: 0 });
  const search = async (search: object): Promise<Answer> => {
    const res = await fetch(`${url}/_/api/search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(search),
    });
    return { status: res.status, body: (await res.json()) as Answer["body"] };
  };
  return { search, tables };
}

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: searches too large for the database`, () => {
    it("q.fullTextMatch with a huge input is a 400 naming the limit", async () => {
      const { search } = await searchApp(dialect);
      expect(await search({ words: "QUICK fox" })).toEqual({ status: 200, body: { count: 1 } });
      const huge = Array.from({ length: 100_000 }, (_, i) => `w${i}`).join(" ");
      const answer = await search({ words: huge });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatch(/q\.fullTextMatch.*at most \d+ words/);
      // A long text of few words is fine.
      expect((await search({ words: `${"a".repeat(5000)} fox` })).status).toBe(200);
    });

    it("a search with more bound values than the database takes is a 400", async () => {
      const { search } = await searchApp(dialect);
      expect(await search({ above: [0, 5] })).toEqual({ status: 200, body: { count: 1 } });
      // One bound value per condition: 70,000 conditions are more than either database binds.
      const above = Array.from({ length: 70_000 }, (_, i) => i);
      const answer = await search({ above });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatch(/too large for the database/);
      expect(answer.body.id).toBeUndefined();
    });

    it("a LIKE pattern of any length is answered, never a 500", async () => {
      const { search } = await searchApp(dialect);
      const answer = await search({ pattern: `%${"x".repeat(60_000)}%` });
      if (dialect.name === "sqlite") {
        // SQLite refuses patterns over 50,000 bytes.
        expect(answer.status).toBe(400);
        expect(answer.body.error).toMatch(/too large for the database/);
      } else {
        expect(answer).toEqual({ status: 200, body: { count: 0 } });
      }
    });

    it("outside a request the refusal is a KilnError with code KILN_QUERY_TOO_LARGE", async () => {
      const { tables } = await searchApp(dialect);
      const huge = Array.from({ length: 70_000 }, (_, i) => q.greaterThan(i));
      const error = await tables.notes
        .search({ n: q.anyOf(...huge) })
        .toArray()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KilnError);
      expect((error as KilnError).code).toBe("KILN_QUERY_TOO_LARGE");
    });
  });
}
