import { afterEach, describe, expect, it } from "vitest";
import {
  BlobMedia,
  HttpError,
  HttpResponse,
  inTransaction,
  KilnError,
  tables,
} from "../../src/index.ts";
import { logCapture, testApp } from "./test-app.ts";

let app: ReturnType<typeof testApp>;
afterEach(() => app?.cleanup());

/** Registers one GET endpoint returning `value` and fetches it. */
async function answer(value: () => unknown) {
  app = testApp();
  app.httpEndpoint("/r", value);
  return app.inject({ url: "/_/api/r" });
}

describe("return value → response", () => {
  it("a plain object is 200 application/json", async () => {
    const res = await answer(() => ({ a: 1, nested: { b: [true, null] } }));
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.json()).toEqual({ a: 1, nested: { b: [true, null] } });
  });

  it("an array is JSON", async () => {
    const res = await answer(() => [1, "two", { three: 3 }]);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.json()).toEqual([1, "two", { three: 3 }]);
  });

  it("a Promise is awaited", async () => {
    const res = await answer(async () => ({ later: true }));
    expect(res.json()).toEqual({ later: true });
  });

  it("a number or boolean is JSON", async () => {
    expect((await answer(() => 42)).body).toBe("42");
    await app.cleanup();
    const res = await answer(() => false);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.body).toBe("false");
  });

  it("a string is 200 text/plain; charset=utf-8", async () => {
    const res = await answer(() => "héllo");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(res.body).toBe("héllo");
  });

  it("a Date becomes its ISO string, alone or inside an object", async () => {
    const when = new Date("2024-05-06T07:08:09.010Z");
    const res = await answer(() => ({ when, list: [when] }));
    expect(res.json()).toEqual({
      when: "2024-05-06T07:08:09.010Z",
      list: ["2024-05-06T07:08:09.010Z"],
    });
    await app.cleanup();
    expect((await answer(() => when)).json()).toBe("2024-05-06T07:08:09.010Z");
  });

  it("null and undefined are 200 with an empty body", async () => {
    for (const value of [null, undefined]) {
      const res = await answer(() => value);
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe("");
      await app.cleanup();
    }
  });

  it("a Media sends its bytes with its content type", async () => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 255]);
    const res = await answer(() => new BlobMedia("image/png", bytes));
    expect(res.headers["content-type"]).toBe("image/png");
    // An attachment unless marked inline: embeds (<img>) show it, navigation downloads it.
    expect(res.headers["content-disposition"]).toBe("attachment");
    expect(res.rawPayload.equals(bytes)).toBe(true);
    const inline = await answer(() => new BlobMedia("image/png", bytes, null, { inline: true }));
    expect(inline.headers["content-disposition"]).toBe("inline");
  });

  it("a named Media adds a Content-Disposition with its file name", async () => {
    const res = await answer(() => new BlobMedia("text/csv", "a,b\n", "report.csv"));
    expect(res.headers["content-type"]).toBe("text/csv");
    expect(res.headers["content-disposition"]).toBe(
      `attachment; filename="report.csv"; filename*=UTF-8''report.csv`,
    );
    expect(res.body).toBe("a,b\n");
  });

  it("a Media name that is not plain ASCII is escaped in Content-Disposition", async () => {
    const res = await answer(() => new BlobMedia("text/plain", "x", 'ré"sumé.txt'));
    expect(res.headers["content-disposition"]).toBe(
      `attachment; filename="r__sum_.txt"; filename*=UTF-8''r%C3%A9%22sum%C3%A9.txt`,
    );
  });

  it("an uploaded Media can be sent straight back", async () => {
    app = testApp();
    app.httpEndpoint("/echo", async () => {
      const { request } = await import("../../src/index.ts");
      return request.body;
    });
    const res = await app.inject({
      method: "POST",
      url: "/_/api/echo",
      headers: { "content-type": "image/gif" },
      payload: Buffer.from("GIF89a"),
    });
    expect(res.headers["content-type"]).toBe("image/gif");
    expect(res.body).toBe("GIF89a");
  });
});

describe("HttpResponse", () => {
  it("answers exactly its status, headers and body", async () => {
    const res = await answer(
      () =>
        new HttpResponse({
          status: 201,
          body: { id: 7 },
          headers: { Location: "/tasks/7", "X-Trace": "abc" },
        }),
    );
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe("/tasks/7");
    expect(res.headers["x-trace"]).toBe("abc");
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.json()).toEqual({ id: 7 });
  });

  it("converts its body by the same rules (string, Media, null)", async () => {
    const text = await answer(() => new HttpResponse({ status: 202, body: "queued" }));
    expect(text.statusCode).toBe(202);
    expect(text.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(text.body).toBe("queued");
    await app.cleanup();

    const media = await answer(
      () => new HttpResponse({ body: new BlobMedia("text/csv", "x", "x.csv") }),
    );
    expect(media.headers["content-disposition"]).toMatch(/filename="x.csv"/);
    await app.cleanup();

    const empty = await answer(() => new HttpResponse({ status: 204 }));
    expect(empty.statusCode).toBe(204);
    expect(empty.body).toBe("");
  });

  it("its own content-type wins over the converted one", async () => {
    const res = await answer(
      () => new HttpResponse({ body: "<h1>Hi</h1>", headers: { "content-type": "text/html" } }),
    );
    expect(res.headers["content-type"]).toBe("text/html");
    expect(res.body).toBe("<h1>Hi</h1>");
  });

  it("headers can be changed after construction, and setCookie adds Set-Cookie lines", async () => {
    const res = await answer(() => {
      const response = new HttpResponse({ body: "ok" });
      response.status = 299;
      response.headers["x-late"] = "1";
      response.setCookie("a", "1").setCookie("b", "two words");
      return response;
    });
    expect(res.statusCode).toBe(299);
    expect(res.headers["x-late"]).toBe("1");
    expect(res.headers["set-cookie"]).toEqual([
      "a=1; Path=/; HttpOnly; SameSite=Lax",
      "b=two%20words; Path=/; HttpOnly; SameSite=Lax",
    ]);
  });

  it("a status outside 200..599 is refused with KILN_BAD_STATUS", () => {
    expect(() => new HttpResponse({ status: 700 })).toThrow(KilnError);
    expect(() => new HttpResponse({ status: 700 })).toThrow(/200..599/);
    expect(() => new HttpResponse({ status: 101 })).toThrow(/200..599/);
  });
});

describe("errors", () => {
  it("HttpError answers its status and message", async () => {
    const res = await answer(() => {
      throw new HttpError(404, "No such task");
    });
    expect(res.statusCode).toBe(404);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.json()).toEqual({ error: "No such task" });
  });

  it("HttpError thrown from an async handler, after an await, works the same", async () => {
    const res = await answer(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      throw new HttpError(409, "Conflict", { field: "title" });
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ error: "Conflict", field: "title" });
  });

  it("HttpError refuses a status outside 400..599", () => {
    expect(() => new HttpError(200, "fine")).toThrow(/400..599/);
  });

  it("any other error is a 500 with an error id and no stack; the error is logged under that id", async () => {
    const logs = logCapture();
    app = testApp({ logger: { destination: logs.stream } });
    app.httpEndpoint("/boom", () => {
      throw new Error("database password is hunter2");
    });
    const res = await app.inject({ url: "/_/api/boom" });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(["error", "id"]);
    expect(body.error).toBe("Internal server error");
    expect(body.id).toMatch(/^[0-9a-f]{12}$/);
    expect(res.body).not.toMatch(/hunter2|at |\.ts/);

    const logged = logs.lines.find((line) => line.errorId === body.id);
    expect(logged).toBeDefined();
    expect(logged?.level).toBe(50);
    const err = logged?.err as { message: string; stack: string };
    expect(err.message).toBe("database password is hunter2");
    expect(err.stack).toMatch(/responses\.test\.ts/);
  });

  it("a transaction that keeps conflicting (KILN_DATABASE_BUSY) is a 503 with Retry-After and an id", async () => {
    const logs = logCapture();
    app = testApp({ tables: { notes: { text: "text" } }, logger: { destination: logs.stream } });
    let runs = 0;
    app.httpEndpoint("/busy", () =>
      inTransaction(async () => {
        runs++;
        await tables.notes.addRow({ text: `attempt ${runs}` });
        // What better-sqlite3 throws when another process holds the write lock past busy_timeout.
        throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
      }),
    );
    const res = await app.inject({ url: "/_/api/busy" });
    expect(runs).toBeGreaterThan(1); // retried before giving up
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    const body = res.json();
    expect(body).toEqual({
      error: "The database is unavailable; try again shortly",
      id: expect.stringMatching(/^[0-9a-f]{12}$/),
    });
    const logged = logs.lines.find((line) => line.errorId === body.id);
    expect(logged).toMatchObject({ level: 50, err: { code: "KILN_DATABASE_BUSY" } });
    expect(await app.tables.notes.search().count()).toBe(0); // every attempt rolled back
  });

  it("each 500 gets its own id", async () => {
    app = testApp();
    app.httpEndpoint("/boom", () => Promise.reject(new TypeError("x")));
    const a = (await app.inject({ url: "/_/api/boom" })).json();
    const b = (await app.inject({ url: "/_/api/boom" })).json();
    expect(a.id).not.toBe(b.id);
  });

  it("a thrown non-Error value is a 500 too", async () => {
    const res = await answer(() => {
      throw "a string";
    });
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toBe("Internal server error");
  });

  it("a value JSON cannot represent (a cycle, a BigInt) is a logged 500, not a crash", async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const res = await answer(() => cyclic);
    expect(res.statusCode).toBe(500);
    expect(res.json().id).toBeTypeOf("string");
    await app.cleanup();
    expect((await answer(() => ({ n: 10n }))).statusCode).toBe(500);
  });
});

describe("request log", () => {
  it("writes one JSON line per request with method, path, status and ms", async () => {
    const logs = logCapture();
    app = testApp({ logger: { destination: logs.stream } });
    app.httpEndpoint("/tasks/:id", () => "ok");
    await app.inject({ url: "/_/api/tasks/1?secret=x" });
    await app.inject({ method: "DELETE", url: "/_/api/tasks/1" });
    await app.inject({ url: "/_/api/missing" });
    const requests = logs.lines.filter((line) => line.msg === "request");
    expect(requests.map(({ method, path, status }) => ({ method, path, status }))).toEqual([
      { method: "GET", path: "/_/api/tasks/1", status: 200 },
      { method: "DELETE", path: "/_/api/tasks/1", status: 405 },
      { method: "GET", path: "/_/api/missing", status: 404 },
    ]);
    for (const line of requests) expect(line.ms).toBeTypeOf("number");
  });

  it("logs a request refused before routing (bad percent-encoding) too", async () => {
    const logs = logCapture();
    app = testApp({ logger: { destination: logs.stream } });
    app.httpEndpoint("/tasks/:id", () => "ok");
    const res = await app.inject({ url: "/_/api/tasks/%E0%A4%A" });
    expect(res.statusCode).toBe(400);
    const requests = logs.lines.filter((line) => line.msg === "request");
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ status: 400 });
  });
});
