import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KilnApp, loadApp } from "../../src/index.ts";

const EXAMPLE = new URL("../../../../examples/todo", import.meta.url).pathname;
const auth = (email: string) => ({
  authorization: `Basic ${Buffer.from(`${email}:${email}-password`).toString("base64")}`,
});
const ALICE = auth("alice@example.com");
const BOB = auth("bob@example.com");
const taskUrl = (id: string) => `/_/api/tasks/${encodeURIComponent(id)}`;

let app: KilnApp;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "kiln-todo-"));
  app = await loadApp(EXAMPLE, { dataDir, logger: false });
  await app.ready();
  await app.users.addUser("alice@example.com", "alice@example.com-password");
  await app.users.addUser("bob@example.com", "bob@example.com-password");
});
afterAll(async () => {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function newTask(headers: Record<string, string>, title: string): Promise<string> {
  const res = await app.inject({
    method: "POST",
    url: "/_/api/new_task",
    headers,
    payload: { title },
  });
  expect(res.statusCode).toBe(200);
  return res.json().id;
}

describe("examples/todo: the To-Do API of the README walkthrough", () => {
  it("GET /hello answers the answer, without authentication", async () => {
    const res = await app.inject("/_/api/hello");
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('{"the answer is":42}');
  });

  it("the task endpoints need Basic credentials", async () => {
    for (const [method, url] of [
      ["GET", "/_/api/tasks"],
      ["POST", "/_/api/new_task"],
      ["GET", taskUrl("[1,1]")],
      ["PUT", taskUrl("[1,1]")],
      ["DELETE", taskUrl("[1,1]")],
    ] as const) {
      const res = await app.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(401);
      expect(res.headers["www-authenticate"]).toBe(
        'Basic realm="todo", charset="UTF-8", Bearer realm="todo"',
      );
    }
  });

  it("POST /new_task takes a form field or JSON and answers the new id", async () => {
    const fromForm = await app.inject({
      method: "POST",
      url: "/_/api/new_task",
      headers: { ...ALICE, "content-type": "application/x-www-form-urlencoded" },
      payload: "title=Buy+milk",
    });
    expect(fromForm.statusCode).toBe(200);
    expect(Object.keys(fromForm.json())).toEqual(["id"]);
    expect(fromForm.json().id).toMatch(/^\[\d+,\d+\]$/);
    const id = await newTask(ALICE, "Write the docs");
    const list = await app.inject({ url: "/_/api/tasks", headers: ALICE });
    expect(list.json()).toEqual([
      { title: "Buy milk", done: false, id: fromForm.json().id },
      { title: "Write the docs", done: false, id },
    ]);
  });

  it("refuses a missing, empty or non-string title with a 400 that says so", async () => {
    for (const payload of [{}, { title: "" }, { title: 5 }, { title: null }, ["title"]]) {
      const res = await app.inject({
        method: "POST",
        url: "/_/api/new_task",
        headers: ALICE,
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error).toMatch(/title/);
    }
    const empty = await app.inject({ method: "POST", url: "/_/api/new_task", headers: ALICE });
    expect(empty.statusCode).toBe(400);
  });

  it("two users never see each other's tasks", async () => {
    const alices = await newTask(ALICE, "Alice's secret");
    const bobs = await newTask(BOB, "Bob's secret");
    const bobList = (await app.inject({ url: "/_/api/tasks", headers: BOB })).json();
    expect(bobList).toEqual([{ title: "Bob's secret", done: false, id: bobs }]);
    const aliceList = (await app.inject({ url: "/_/api/tasks", headers: ALICE })).json();
    expect(aliceList.map((t: { id: string }) => t.id)).toContain(alices);
    expect(aliceList.map((t: { id: string }) => t.id)).not.toContain(bobs);
    for (const method of ["GET", "PUT", "DELETE"] as const) {
      const res = await app.inject({
        method,
        url: taskUrl(alices),
        headers: BOB,
        payload: { done: true },
      });
      expect(res.statusCode, method).toBe(404);
    }
    const still = await app.inject({ url: taskUrl(alices), headers: ALICE });
    expect(still.json()).toEqual({ title: "Alice's secret", done: false, id: alices });
  });

  it("GET, PUT and DELETE /tasks/:id read, update and delete the caller's task", async () => {
    const id = await newTask(ALICE, "Draft");
    expect((await app.inject({ url: taskUrl(id), headers: ALICE })).json()).toEqual({
      title: "Draft",
      done: false,
      id,
    });
    const put = await app.inject({
      method: "PUT",
      url: taskUrl(id),
      headers: ALICE,
      payload: { title: "Final", done: true },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ title: "Final", done: true, id });
    const partial = await app.inject({
      method: "PUT",
      url: taskUrl(id),
      headers: ALICE,
      payload: { done: false },
    });
    expect(partial.json()).toEqual({ title: "Final", done: false, id });
    const bad = await app.inject({
      method: "PUT",
      url: taskUrl(id),
      headers: ALICE,
      payload: { done: "yes" },
    });
    expect(bad.statusCode).toBe(400);
    const del = await app.inject({ method: "DELETE", url: taskUrl(id), headers: ALICE });
    expect(del.statusCode).toBe(200);
    expect((await app.inject({ url: taskUrl(id), headers: ALICE })).statusCode).toBe(404);
    const list = (await app.inject({ url: "/_/api/tasks", headers: ALICE })).json();
    expect(list.map((t: { id: string }) => t.id)).not.toContain(id);
  });

  it("answers 404 for a missing or malformed task id", async () => {
    for (const id of ["[1,999999]", "[999,1]", "garbage", "[1,", "-1"]) {
      const res = await app.inject({ url: taskUrl(id), headers: ALICE });
      expect(res.statusCode, id).toBe(404);
    }
  });
});
