import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type KilnApp, loadApp } from "../../src/index.ts";
import { logCapture } from "../http/test-app.ts";
import { basicAuth, TODO_APP } from "./kiln-process.ts";
import { head, type RawResponse, rawRequest } from "./raw-http.ts";

/**
 * Hostile input against examples/todo, the app users copy: the tutorial's API on a real
 * socket, with Basic auth, data tables and users. Every case is a clear 4xx with a JSON
 * message, never a 500; afterwards the server still serves and both users' tasks are intact.
 */

const ADA = { email: "ada@example.com", password: "ada's password 1" };
const BOB = { email: "bob@example.com", password: "bob's password 2" };
const AUTH = basicAuth(ADA.email, ADA.password);
const log = logCapture();

let app: KilnApp;
let port: number;
let dataDir: string;
let adaTask: string;
let bobTask: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "kiln-todo-hostile-"));
  app = await loadApp(TODO_APP, { dataDir, logger: { destination: log.stream, level: "info" } });
  port = Number(new URL(await app.listen({ port: 0 })).port);
  await app.users.signupWithEmail(ADA.email, ADA.password);
  await app.users.signupWithEmail(BOB.email, BOB.password);
  adaTask = (await json("POST", "/_/api/new_task", { title: "Ada's task" })).id as string;
  bobTask = (await json("POST", "/_/api/new_task", { title: "Bob's task" }, BOB)).id as string;
});

afterAll(async () => {
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

afterEach(async () => {
  // Still serving, both users' data intact, and no internal error logged.
  const ada = await send(head("GET /_/api/tasks HTTP/1.1", { Authorization: AUTH }));
  expect(ada.status).toBe(200);
  expect(JSON.parse(ada.body)).toContainEqual({ title: "Ada's task", done: false, id: adaTask });
  const bob = await send(
    head(`GET /_/api/tasks/${encodeURIComponent(bobTask)} HTTP/1.1`, {
      Authorization: basicAuth(BOB.email, BOB.password),
    }),
  );
  expect(JSON.parse(bob.body)).toEqual({ title: "Bob's task", done: false, id: bobTask });
  const errors = log.lines.filter((line) => Number(line.level) >= 50);
  expect(errors, JSON.stringify(errors)).toEqual([]);
});

const send = (data: string | Buffer) => rawRequest(port, data);

function request(method: string, path: string, type: string, body: string | Buffer, who = ADA) {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  const headers = {
    Authorization: basicAuth(who.email, who.password),
    "Content-Type": type,
    "Content-Length": bytes.length,
  };
  return send(Buffer.concat([Buffer.from(head(`${method} ${path} HTTP/1.1`, headers)), bytes]));
}

async function json(method: string, path: string, value: unknown, who = ADA) {
  const res = await request(method, path, "application/json", JSON.stringify(value), who);
  expect(res.status, res.body).toBe(200);
  return JSON.parse(res.body) as Record<string, unknown>;
}

function expectClientError(res: RawResponse, status: number, message?: RegExp): void {
  expect(res.status, res.raw.slice(0, 300)).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error?: unknown };
  expect(typeof body.error).toBe("string");
  if (message) expect(body.error).toMatch(message);
}

const task = (id: string) => `/_/api/tasks/${encodeURIComponent(id)}`;

describe("examples/todo under hostile input", () => {
  it("a body over the 1 MiB limit is a 413, declared or chunked", async () => {
    const declared = head("POST /_/api/new_task HTTP/1.1", {
      Authorization: AUTH,
      "Content-Length": 11 * 1024 * 1024,
    });
    expectClientError(await send(declared), 413, /too large/i);
    const chunk = `100000\r\n${"a".repeat(0x100000)}\r\n`;
    const chunked =
      `POST /_/api/new_task HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n` +
      `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `${chunk.repeat(11)}0\r\n\r\n`;
    expectClientError(await send(chunked), 413, /too large/i);
  });

  it("JSON nested 100k deep is a 400 on every endpoint that reads JSON", async () => {
    const bomb = "[".repeat(100_000) + "]".repeat(100_000);
    expectClientError(
      await request("POST", "/_/api/new_task", "application/json", bomb),
      400,
      /deep/,
    );
    expectClientError(await request("PUT", task(adaTask), "application/json", bomb), 400, /deep/);
  });

  it("JSON of the wrong shape is a 400", async () => {
    for (const body of [
      "[]",
      '"x"',
      "null",
      "{}",
      '{"title":5}',
      '{"title":""}',
      '{"title":{"$ne":null}}',
    ]) {
      expectClientError(await request("POST", "/_/api/new_task", "application/json", body), 400);
    }
    for (const body of ['{"done":"yes"}', '{"title":null}', '{"title":["a"]}', '{"done":1}']) {
      expectClientError(await request("PUT", task(adaTask), "application/json", body), 400);
    }
  });

  it("invalid UTF-8 and malformed JSON are a 400", async () => {
    const bad = Buffer.concat([
      Buffer.from('{"title":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    expectClientError(
      await request("POST", "/_/api/new_task", "application/json", bad),
      400,
      /UTF-8/,
    );
    const form = Buffer.concat([Buffer.from("title="), Buffer.from([0xc3, 0x28])]);
    const res = await request("POST", "/_/api/new_task", "application/x-www-form-urlencoded", form);
    expectClientError(res, 400, /UTF-8/);
    expectClientError(
      await request("POST", "/_/api/new_task", "application/json", '{"title":'),
      400,
      /JSON/,
    );
  });

  it("garbage or huge Authorization headers are a 401 or a 431, never a 500", async () => {
    const garbage = [
      "Basic",
      "Basic !!!!",
      "Basic " + Buffer.from("no colon").toString("base64"),
      "Basic " + Buffer.from(":").toString("base64"),
      "Basic " + Buffer.from("\u0000:\u0000").toString("base64"),
      "Basic " + "A".repeat(8_000),
      "Bearer abc",
      "basic " + Buffer.from(`${ADA.email}:wrong`).toString("base64"),
    ];
    for (const authorization of garbage) {
      const res = await send(head("GET /_/api/tasks HTTP/1.1", { Authorization: authorization }));
      expectClientError(res, 401);
      expect(res.headers["www-authenticate"]).toMatch(/^Basic realm=/);
    }
    const huge = await send(
      head("GET /_/api/tasks HTTP/1.1", { Authorization: `Basic ${"A".repeat(100_000)}` }),
    );
    expectClientError(huge, 431);
  });

  it("ids that are SQL, or someone else's, are a 404 and change nothing", async () => {
    const ids = [
      "1' OR '1'='1",
      `${adaTask} OR 1=1`,
      `${adaTask}; DROP TABLE tasks; --`,
      "[1,1) UNION SELECT * FROM users --",
      "[99999999999999999999,1]",
      "[1,-1]",
      bobTask,
    ];
    for (const id of ids) {
      for (const method of ["GET", "PUT", "DELETE"]) {
        const res = await request(method, task(id), "application/json", '{"title":"pwned"}');
        expectClientError(res, 404, /no such task/i);
      }
    }
  });

  it("percent-encoding errors in the path are a 400", async () => {
    for (const bad of ["%", "%E0%A4%A", "%FF", "%C0%80"]) {
      const res = await send(head(`GET /_/api/tasks/${bad} HTTP/1.1`, { Authorization: AUTH }));
      expectClientError(res, 400, /percent-encoding/i);
    }
  });

  it("control characters and emoji in a title are stored and returned byte for byte", async () => {
    const titles = [
      Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join(""),
      "\u007f\u0080\u009f\u2028\u2029\ufeff",
      "👩‍👩‍👧‍👦 🇫🇷 🏳️‍🌈 e\u0301 \u202eRTL \\u0000 '; DROP TABLE tasks; --",
    ];
    for (const title of titles) {
      const { id } = await json("POST", "/_/api/new_task", { title });
      const read = await request("GET", task(id as string), "application/json", "");
      const stored = JSON.parse(read.body).title as string;
      expect(Buffer.from(stored)).toEqual(Buffer.from(title));
      // The same through a form body, percent-encoded.
      const viaForm = await request(
        "POST",
        "/_/api/new_task",
        "application/x-www-form-urlencoded",
        `title=${encodeURIComponent(title)}`,
      );
      const formId = JSON.parse(viaForm.body).id as string;
      const back = await request("GET", task(formId), "application/json", "");
      expect(JSON.parse(back.body).title).toBe(title);
      for (const done of [id as string, formId])
        await request("DELETE", task(done), "application/json", "");
    }
  });

  it("text no database can store exactly (U+0000, lone surrogates) is a 400, not a 500", async () => {
    for (const body of ['{"title":"a\\u0000b"}', '{"title":"x\\ud800y"}', '{"title":"\\udfff"}']) {
      expectClientError(
        await request("POST", "/_/api/new_task", "application/json", body),
        400,
        /tasks\.title/,
      );
      expectClientError(
        await request("PUT", task(adaTask), "application/json", body),
        400,
        /tasks\.title/,
      );
    }
  });

  it("content-type lies are a 400", async () => {
    const body = JSON.stringify({ title: "hello" });
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
    ]) {
      expectClientError(await request("POST", "/_/api/new_task", type, body), 400);
    }
    expectClientError(
      await request("POST", "/_/api/new_task", "application/json", "title=hello"),
      400,
    );
  });

  it("multipart bombs are a 413", async () => {
    const B = "bomb";
    const type = `multipart/form-data; boundary=${B}`;
    const part = (name: string, value: string, extra = "") =>
      `--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n${extra}\r\n${value}\r\n`;
    const many =
      Array.from({ length: 1500 }, (_, i) => part(`f${i}`, "v")).join("") + `--${B}--\r\n`;
    expectClientError(await request("POST", "/_/api/new_task", type, many), 413, /parts|fields/);
    const fat = part("title", "v", `X-Junk: ${"j".repeat(40_000)}\r\n`) + `--${B}--\r\n`;
    expectClientError(await request("POST", "/_/api/new_task", type, fat), 413, /part header/);
  });

  it("a well-formed multipart new_task works (the bombs are refused, not multipart itself)", async () => {
    const B = "fine";
    const body = `--${B}\r\nContent-Disposition: form-data; name="title"\r\n\r\nfrom a form ✓\r\n--${B}--\r\n`;
    const res = await request(
      "POST",
      "/_/api/new_task",
      `multipart/form-data; boundary=${B}`,
      body,
    );
    expect(res.status).toBe(200);
    await request("DELETE", task(JSON.parse(res.body).id), "application/json", "");
  });
});
