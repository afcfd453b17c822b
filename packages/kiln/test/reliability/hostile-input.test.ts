import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { HttpError, request, tables } from "../../src/index.ts";
import { logCapture } from "../http/test-app.ts";
import { head, type ListeningApp, listeningApp, type RawResponse, rawRequest } from "./raw-http.ts";

/**
 * Hostile input against a real listening server: every case must be answered with a clear
 * 4xx whose body is JSON `{ error: "..." }` — never a 500, never a crash — and afterwards the
 * server still serves and its data is intact (checked after every test).
 */

const BODY_LIMIT = 64 * 1024;
const SEED = ["first note", "second note"];

let app: ListeningApp;
let notes: Map<string, string>;
const log = logCapture();

beforeAll(async () => {
  notes = new Map(SEED.map((text, i) => [String(i + 1), text]));
  app = await listeningApp(
    (app) => {
      app.httpEndpoint("/notes", { methods: ["GET"] }, () =>
        [...notes].map(([id, text]) => ({ id, text })),
      );
      app.httpEndpoint(
        "/notes/new",
        { methods: ["POST"], body: z.object({ text: z.string().max(10_000) }) },
        (_params, { body }) => {
          const id = String(notes.size + 1);
          notes.set(id, body.text);
          return { id };
        },
      );
      app.httpEndpoint("/notes/:id", { methods: ["GET", "DELETE"] }, ({ id }) => {
        const text = notes.get(id);
        if (text === undefined) throw new HttpError(404, "No such note");
        if (request.method === "DELETE") notes.delete(id);
        return { id, text };
      });
      // The dangerous kind of handler: hands the client's own JSON straight back.
      app.httpEndpoint(
        "/echo",
        { methods: ["POST"], bodyLimit: 1024 * 1024 },
        () => request.bodyJson,
      );
      // The same, over a real data table: ids reach the database's own lookup.
      app.httpEndpoint("/stored/:id", { methods: ["GET", "DELETE"] }, async ({ id }) => {
        const row = await tables.notes.getById(id);
        if (!row) throw new HttpError(404, "No such note");
        if (request.method === "DELETE") await row.delete();
        return row;
      });
      app.httpEndpoint("/params/:id", (params) => params);
      app.httpEndpoint("/small", { methods: ["POST"], bodyLimit: 1024 }, () => "ok");
      app.httpEndpoint("/form", { methods: ["POST"], bodyLimit: 4 * 1024 * 1024 }, (params) => ({
        fields: Object.keys(params).length,
        files: Object.keys(request.files).length,
      }));
    },
    {
      limits: { bodySize: BODY_LIMIT },
      logger: { destination: log.stream, level: "info" },
      tables: { notes: { text: "text" } },
    },
  );
});

afterAll(() => app?.cleanup());

afterEach(async () => {
  // Still serving, data intact, and nothing was logged as an internal error.
  const list = await fetch(`${app.url}/_/api/notes`);
  expect(list.status).toBe(200);
  const texts = ((await list.json()) as { text: string }[]).map((n) => n.text);
  expect(texts.slice(0, SEED.length)).toEqual(SEED);
  expect((await fetch(`${app.url}/_/health`)).status).toBe(200);
  const internal = log.lines.filter((line) => Number(line.level) >= 50);
  expect(internal, JSON.stringify(internal)).toEqual([]);
});

/** A clear 4xx: the expected status, a JSON body with an `error` message matching `message`. */
function expectClientError(res: RawResponse, status: number, message: RegExp): void {
  expect(res.status, res.raw.slice(0, 300)).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error?: unknown };
  expect(typeof body.error).toBe("string");
  expect(body.error).toMatch(message);
}

function post(path: string, contentType: string, body: string | Buffer, extra = {}): Buffer {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const headers = {
    ...(contentType ? { "Content-Type": contentType } : {}),
    "Content-Length": bytes.length,
    ...extra,
  };
  return Buffer.concat([Buffer.from(head(`POST ${path} HTTP/1.1`, headers)), bytes]);
}

const send = (data: string | Buffer) => rawRequest(app.port, data);

describe("bodies over the limit", () => {
  it("a declared Content-Length over the limit is refused before the body is read", async () => {
    const res = await send(head("POST /_/api/echo HTTP/1.1", { "Content-Length": 10 ** 9 }));
    expectClientError(res, 413, /too large/i);
  });

  it("a chunked body that grows past the limit is cut off with 413", async () => {
    const chunk = `${(16 * 1024).toString(16)}\r\n${"a".repeat(16 * 1024)}\r\n`;
    const res = await send(
      `POST /_/api/notes/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk.repeat(6)}0\r\n\r\n`,
    );
    expectClientError(res, 413, /too large/i);
  });

  it("an endpoint's own bodyLimit is enforced", async () => {
    const res = await send(post("/_/api/small", "text/plain", "x".repeat(1025)));
    expectClientError(res, 413, /too large/i);
  });
});

describe("JSON bombs and wrong shapes", () => {
  it("JSON nested 100k deep is a 400, even on a handler that echoes its input", async () => {
    for (const bomb of ["[".repeat(100_000) + "]".repeat(100_000), '{"a":'.repeat(100_000)]) {
      expectClientError(await send(post("/_/api/echo", "application/json", bomb)), 400, /deep/i);
    }
  });

  it("JSON nested a sensible depth still works", async () => {
    const nested = "[".repeat(100) + "1" + "]".repeat(100);
    const res = await send(post("/_/api/echo", "application/json", nested));
    expect(res.status).toBe(200);
    expect(res.body).toBe(nested);
  });

  it("brackets inside strings do not count as nesting", async () => {
    const text = JSON.stringify({ text: "[{".repeat(5000) });
    const res = await send(post("/_/api/echo", "application/json", text));
    expect(res.status).toBe(200);
    expect(res.body).toBe(text);
  });

  it("JSON of the wrong shape is a 400 naming what is wrong", async () => {
    for (const body of ["[]", '"text"', "null", "{}", '{"text":5}', '{"text":{"$gt":""}}']) {
      const res = await send(post("/_/api/notes/new", "application/json", body));
      expectClientError(res, 400, /invalid request body/i);
      expect(JSON.stringify(JSON.parse(res.body).problems)).toMatch(/body/);
    }
  });

  it("malformed JSON is a 400 before the handler runs", async () => {
    for (const body of ["{", '{"text":"a",}', "NaN", "\u0000", '{"text":"a"}{"x":1}']) {
      const res = await send(post("/_/api/notes/new", "application/json", body));
      expectClientError(res, 400, /malformed json/i);
    }
  });

  it("__proto__ in a JSON body does not reach Object.prototype", async () => {
    const res = await send(
      post("/_/api/notes/new", "application/json", '{"text":"p","__proto__":{"polluted":1}}'),
    );
    expect(res.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    notes.delete(JSON.parse(res.body).id);
  });
});

describe("invalid UTF-8", () => {
  const invalid = [Buffer.from([0xc3, 0x28]), Buffer.from([0xff]), Buffer.from([0xed, 0xa0, 0x80])];

  it("in a JSON body is a 400", async () => {
    for (const bad of invalid) {
      const body = Buffer.concat([Buffer.from('{"text":"'), bad, Buffer.from('"}')]);
      expectClientError(
        await send(post("/_/api/notes/new", "application/json", body)),
        400,
        /UTF-8/,
      );
    }
  });

  it("in a form body is a 400", async () => {
    const body = Buffer.concat([Buffer.from("a="), invalid[1]!]);
    const res = await send(post("/_/api/form", "application/x-www-form-urlencoded", body));
    expectClientError(res, 400, /UTF-8/);
  });

  it("as raw bytes in the path is a 400", async () => {
    const line = Buffer.concat([
      Buffer.from("GET /_/api/params/"),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ]);
    expectClientError(await send(line), 400, /malformed/i);
  });

  it("percent-encoded in the path is a 400", async () => {
    for (const bad of ["%FF", "%C3%28", "%ED%A0%80", "%C0%80"]) {
      const res = await send(head(`GET /_/api/params/${bad} HTTP/1.1`));
      expectClientError(res, 400, /percent-encoding/i);
    }
  });

  it("percent-encoded in the query is kept literally rather than guessed at", async () => {
    const res = await send(head("GET /_/api/params/1?q=%FF&r=%ZZ HTTP/1.1"));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ id: "1", q: "%FF", r: "%ZZ" });
  });

  it("in a header value is passed on as Latin-1 text, not a crash", async () => {
    const line = Buffer.concat([
      Buffer.from("GET /_/api/params/1 HTTP/1.1\r\nHost: x\r\nX-Thing: "),
      Buffer.from([0xff, 0xfe, 0x80]),
      Buffer.from("\r\nConnection: close\r\n\r\n"),
    ]);
    expect((await send(line)).status).toBe(200);
  });
});

describe("oversized and malformed requests", () => {
  it("100 kB of headers is a 431 with a JSON message", async () => {
    const one = await send(head("GET /_/api/notes HTTP/1.1", { "X-Big": "a".repeat(100_000) }));
    expectClientError(one, 431, /headers.*too large/i);
    const many: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) many[`X-H${i}`] = "b".repeat(40);
    expectClientError(await send(head("GET /_/api/notes HTTP/1.1", many)), 431, /too large/i);
  });

  it("a garbage or huge Authorization header never reaches a 500", async () => {
    for (const auth of ["Basic !!!", "Basic", "Basic " + "A".repeat(8000), "Bearer ☃", "x"]) {
      const res = await send(head("GET /_/api/params/1 HTTP/1.1", { Authorization: auth }));
      expect(res.status, auth.slice(0, 20)).toBe(200);
    }
    const huge = await send(
      head("GET /_/api/params/1 HTTP/1.1", { Authorization: `Basic ${"A".repeat(100_000)}` }),
    );
    expectClientError(huge, 431, /too large/i);
  });

  it("a 20 kB URL is a 414, in the path or in the query", async () => {
    const path = await send(head(`GET /_/api/params/${"a".repeat(20_000)} HTTP/1.1`));
    expectClientError(path, 414, /URL is too long/i);
    const query = await send(head(`GET /_/api/params/1?q=${"a".repeat(20_000)} HTTP/1.1`));
    expectClientError(query, 414, /URL is too long/i);
  });

  it("a URL parameter over the router's limit is a 414 that does not echo the URL", async () => {
    const res = await send(head(`GET /_/api/params/${"a".repeat(10_000)} HTTP/1.1`));
    expectClientError(res, 414, /too long/i);
    expect(res.body.length).toBeLessThan(200);
  });

  it("percent-encoding errors in the path are a 400", async () => {
    for (const bad of ["%", "%2", "%Z1", "a%E0%A4%A"]) {
      const res = await send(head(`GET /_/api/params/${bad} HTTP/1.1`));
      expectClientError(res, 400, /percent-encoding/i);
    }
  });

  it("a garbage request line, a smuggling attempt or a bad Content-Length is a 400", async () => {
    const cases = [
      "HELLO WORLD\r\n\r\n",
      "GET /_/api/notes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      head("POST /_/api/echo HTTP/1.1", { "Content-Length": "abc" }),
      "GET /_/api/notes HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n",
      "GET /_/api/notes HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n",
    ];
    for (const raw of cases) {
      expectClientError(await send(raw), 400, /malformed http request/i);
    }
  });

  it("ids that are SQL are only ids, against a real table: a 404, and nothing else happens", async () => {
    const kept = [
      await app.tables.notes.addRow({ text: "one" }),
      await app.tables.notes.addRow({ text: "two" }),
    ];
    const real = kept[0]!.id; // "[t,r]"
    const ids = [
      "1' OR '1'='1",
      "1; DROP TABLE data_notes; --",
      "1 UNION SELECT * FROM data_users",
      `${real}' OR '1'='1`,
      `${real} OR 1=1`,
      `${real}; DELETE FROM data_notes; --`,
      real.replace(",", ",1 OR 1=1 --"),
      real.replace("]", ") OR (1=1]"),
      `${real.slice(0, -1)} `,
    ];
    for (const id of ids) {
      for (const method of ["GET", "DELETE"]) {
        const res = await send(head(`${method} /_/api/stored/${encodeURIComponent(id)} HTTP/1.1`));
        expectClientError(res, 404, /no such note/i);
      }
    }
    // Both rows are still there, unchanged, and the real id still finds its row.
    const left = await app.tables.notes.search({}, { orderBy: "text" }).toArray();
    expect(left.map((row) => [row.id, row.text])).toEqual(kept.map((row) => [row.id, row.text]));
    const found = await send(head(`GET /_/api/stored/${encodeURIComponent(real)} HTTP/1.1`));
    expect(found.status).toBe(200);
    expect(JSON.parse(found.body)).toEqual({ id: real, text: "one" });
  });
});

describe("text is stored and returned exactly", () => {
  const controls = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join("");
  const tricky = [
    controls,
    "\u007f\u0080\u009f",
    "\u2028\u2029\ufeff\u200b",
    "👩‍👩‍👧‍👦 🇫🇷 🏳️‍🌈 e\u0301 \u202eRTL",
    "\"quotes\" \\backslash\\ 'single' <b>&amp;</b> %00 %s $" + "{x}",
  ];

  it("control characters and emoji in JSON round-trip byte for byte", async () => {
    for (const text of tricky) {
      const created = await send(
        post("/_/api/notes/new", "application/json", JSON.stringify({ text })),
      );
      expect(created.status).toBe(200);
      const { id } = JSON.parse(created.body) as { id: string };
      const read = await send(head(`GET /_/api/notes/${id} HTTP/1.1`));
      expect(Buffer.from(JSON.parse(read.body).text, "utf8")).toEqual(Buffer.from(text, "utf8"));
      await send(head(`DELETE /_/api/notes/${id} HTTP/1.1`));
    }
  });

  it("control characters and emoji in path, query and form parameters arrive exactly", async () => {
    for (const text of tricky) {
      const enc = encodeURIComponent(text);
      const res = await send(
        post(`/_/api/form?q=${enc}`, "application/x-www-form-urlencoded", `f=${enc}`),
      );
      expect(res.status).toBe(200);
      const params = await send(head(`GET /_/api/params/${enc}?q=${enc} HTTP/1.1`));
      expect(JSON.parse(params.body)).toEqual({ id: text, q: text });
    }
  });
});

describe("content-type lies", () => {
  const json = JSON.stringify({ text: "hello" });

  it("JSON sent as text/plain, octet-stream or with no type is not taken as JSON", async () => {
    for (const type of ["text/plain", "application/octet-stream", ""]) {
      const res = await send(post("/_/api/notes/new", type, json));
      expectClientError(res, 400, /invalid request body/i);
    }
  });

  it("a form body labelled JSON is a 400", async () => {
    const res = await send(post("/_/api/notes/new", "application/json", "text=hello"));
    expectClientError(res, 400, /malformed json/i);
  });

  it("a JSON body labelled multipart is a 400", async () => {
    for (const type of ["multipart/form-data; boundary=x", "multipart/form-data"]) {
      expectClientError(await send(post("/_/api/form", type, json)), 400, /multipart/i);
    }
  });

  it("a Content-Length shorter than the body makes the rest a malformed request", async () => {
    const before = notes.size;
    const res = await send(
      post("/_/api/notes/new", "application/json", `${json}GARBAGE`, {
        "Content-Length": Buffer.byteLength(json),
      }),
    );
    // Node parses the leftover bytes at once and drops the connection with a 400; the first
    // request may still have been handled (as after any dropped connection).
    expectClientError(res, 400, /malformed http request/i);
    if (notes.size > before) notes.delete(String(notes.size));
  });
});

describe("multipart bombs", () => {
  const B = "kilnboundary";
  const type = `multipart/form-data; boundary=${B}`;
  const field = (name: string, value: string, extra = "") =>
    `--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n${extra}\r\n${value}\r\n`;
  const end = `--${B}--\r\n`;

  it("a well-formed multipart body works", async () => {
    const file = `--${B}\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhi\r\n`;
    const res = await send(post("/_/api/form", type, field("a", "1") + file + end));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ fields: 1, files: 1 });
  });

  it("more than 1000 parts is a 413", async () => {
    const body = Array.from({ length: 1500 }, (_, i) => field(`f${i}`, "v")).join("") + end;
    expectClientError(await send(post("/_/api/form", type, body)), 413, /parts|fields/);
  });

  it("more than 100 files is a 413", async () => {
    const file = (i: number) =>
      `--${B}\r\nContent-Disposition: form-data; name="f${i}"; filename="${i}"\r\n\r\nx\r\n`;
    const body = Array.from({ length: 150 }, (_, i) => file(i)).join("") + end;
    expectClientError(await send(post("/_/api/form", type, body)), 413, /files/);
  });

  it("a huge part header is a 413, not silently truncated", async () => {
    const body = field("a", "v", `X-Junk: ${"j".repeat(40_000)}\r\n`) + end;
    expectClientError(await send(post("/_/api/form", type, body)), 413, /part header/i);
  });

  it("a part with thousands of header lines is a 413", async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `X-${i}: y\r\n`).join("");
    const body = field("a", "v", lines) + end;
    expectClientError(await send(post("/_/api/form", type, body)), 413, /part header/i);
  });

  it("a field over the field size limit is a 413, not silently truncated", async () => {
    const body = field("a", "v".repeat(1024 * 1024 + 10)) + end;
    expectClientError(await send(post("/_/api/form", type, body)), 413, /field/i);
  });

  it("an unterminated body is a 400", async () => {
    const body = `--${B}\r\nContent-Disposition: form-data; name="a"\r\n\r\nvvvv`;
    expectClientError(await send(post("/_/api/form", type, body)), 400, /multipart/i);
  });
});
