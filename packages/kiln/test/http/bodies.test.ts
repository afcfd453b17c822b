import { afterEach, describe, expect, it } from "vitest";
import { createApp, KilnError, request } from "../../src/index.ts";
import { multipart, testApp } from "./test-app.ts";

let app: ReturnType<typeof testApp>;
afterEach(() => app?.cleanup());

/** An endpoint that reports what Kiln decoded from the body. */
function echoBody() {
  app.httpEndpoint("/body", () => ({
    bodyJson: request.bodyJson,
    formParams: request.formParams,
    body: request.body && {
      contentType: request.body.contentType,
      length: request.body.length,
      text: request.body.getText(),
    },
    files: Object.fromEntries(
      Object.entries(request.files).map(([field, media]) => [
        field,
        { name: media.name, contentType: media.contentType, text: media.getText() },
      ]),
    ),
  }));
}

describe("request bodies", () => {
  it("a JSON body is parsed into request.bodyJson; the raw bytes stay in request.body", async () => {
    app = testApp();
    echoBody();
    const res = await app.inject({
      method: "POST",
      url: "/_/api/body",
      headers: { "content-type": "application/json; charset=utf-8" },
      payload: '{"title":"Buy milk","tags":["a"],"n":1.5}',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      bodyJson: { title: "Buy milk", tags: ["a"], n: 1.5 },
      formParams: {},
      body: { contentType: "application/json; charset=utf-8", length: 41 },
    });
  });

  it("a +json content type counts as JSON", async () => {
    app = testApp();
    echoBody();
    const res = await app.inject({
      method: "POST",
      url: "/_/api/body",
      headers: { "content-type": "application/merge-patch+json" },
      payload: '{"done":true}',
    });
    expect(res.json().bodyJson).toEqual({ done: true });
  });

  it("a malformed JSON body is a 400 with a message, before the handler runs", async () => {
    app = testApp();
    let ran = false;
    app.httpEndpoint("/json", () => {
      ran = true;
      return "ran";
    });
    const res = await app.inject({
      method: "POST",
      url: "/_/api/json",
      headers: { "content-type": "application/json" },
      payload: '{"title": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/^Malformed JSON body: /);
    expect(ran).toBe(false);
  });

  it("a JSON body that is not UTF-8 is a 400", async () => {
    app = testApp();
    echoBody();
    const res = await app.inject({
      method: "POST",
      url: "/_/api/body",
      headers: { "content-type": "application/json" },
      payload: Buffer.from([0x22, 0xff, 0xfe, 0x22]),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/not valid UTF-8/);
  });

  it("an urlencoded body fills request.formParams", async () => {
    app = testApp();
    echoBody();
    const res = await app.inject({
      method: "POST",
      url: "/_/api/body",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "title=Buy+milk&note=caf%C3%A9&empty=",
    });
    expect(res.json()).toMatchObject({
      bodyJson: null,
      formParams: { title: "Buy milk", note: "café", empty: "" },
    });
  });

  it("a multipart body gives fields as form parameters and files as Media", async () => {
    app = testApp();
    echoBody();
    const form = new FormData();
    form.set("title", "Report");
    form.set("doc", new Blob(["hello file"], { type: "text/plain" }), "notes.txt");
    form.set("image", new Blob([new Uint8Array([1, 2, 3])], { type: "image/png" }), "dot.png");
    const { payload, headers } = await multipart(form);
    const res = await app.inject({ method: "POST", url: "/_/api/body", headers, payload });
    expect(res.statusCode).toBe(200);
    const json = res.json();
    expect(json.formParams).toEqual({ title: "Report" });
    expect(json.files.doc).toEqual({
      name: "notes.txt",
      contentType: "text/plain",
      text: "hello file",
    });
    expect(json.files.image).toMatchObject({ name: "dot.png", contentType: "image/png" });
    // Not the raw multipart envelope: its fields and files are above.
    expect(json.body).toBeNull();
  });

  it("a form body (urlencoded or multipart, over real HTTP) leaves request.body null", async () => {
    app = testApp();
    echoBody();
    const url = `${await app.listen({ port: 0 })}/_/api/body`;
    const form = new FormData();
    form.set("title", "Report");
    form.set("doc", new Blob(["hello file"], { type: "text/plain" }), "notes.txt");
    const multi = (await (await fetch(url, { method: "POST", body: form })).json()) as {
      files: Record<string, unknown>;
    };
    expect(multi).toMatchObject({ body: null, formParams: { title: "Report" } });
    expect(multi.files.doc).toMatchObject({ name: "notes.txt", text: "hello file" });
    const encoded = await (
      await fetch(url, { method: "POST", body: new URLSearchParams({ title: "Buy milk" }) })
    ).json();
    expect(encoded).toMatchObject({ body: null, formParams: { title: "Buy milk" } });
    const other = (await (
      await fetch(url, { method: "POST", headers: { "content-type": "text/csv" }, body: "a,b" })
    ).json()) as { body: unknown };
    expect(other.body).toEqual({ contentType: "text/csv", length: 3, text: "a,b" });
  });

  it("a multipart body without its boundary is a 400", async () => {
    app = testApp();
    echoBody();
    const res = await app.inject({
      method: "POST",
      url: "/_/api/body",
      headers: { "content-type": "multipart/form-data" },
      payload: "--x\r\n\r\n",
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/multipart/i);
  });

  it("another content type is kept as raw bytes in request.body", async () => {
    app = testApp();
    echoBody();
    const res = await app.inject({
      method: "POST",
      url: "/_/api/body",
      headers: { "content-type": "text/csv" },
      payload: "a,b\n1,2\n",
    });
    expect(res.json()).toMatchObject({
      bodyJson: null,
      formParams: {},
      body: { contentType: "text/csv", length: 8, text: "a,b\n1,2\n" },
    });
  });

  it("no body gives request.body === null", async () => {
    app = testApp();
    echoBody();
    const res = await app.inject({ method: "POST", url: "/_/api/body" });
    expect(res.json()).toMatchObject({ body: null, bodyJson: null, formParams: {} });
  });

  it("a body without a content type is raw bytes (application/octet-stream)", async () => {
    app = testApp();
    echoBody();
    const res = await app.inject({
      method: "POST",
      url: "/_/api/body",
      payload: Buffer.from("raw"),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().body).toEqual({
      contentType: "application/octet-stream",
      length: 3,
      text: "raw",
    });
  });
});

describe("body size limit", () => {
  it("defaults to 1 MiB: a larger body is a 413 with a clear message", async () => {
    app = testApp();
    let ran = false;
    app.httpEndpoint("/upload", () => {
      ran = true;
      return request.body?.length ?? 0;
    });
    const limit = 1024 * 1024;
    const ok = await app.inject({
      method: "POST",
      url: "/_/api/upload",
      headers: { "content-type": "application/octet-stream" },
      payload: Buffer.alloc(limit),
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toBe(String(limit));
    ran = false;
    const tooBig = await app.inject({
      method: "POST",
      url: "/_/api/upload",
      headers: { "content-type": "application/octet-stream" },
      payload: Buffer.alloc(limit + 1),
    });
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json()).toEqual({ error: "Request body is too large" });
    expect(ran).toBe(false);
  });

  it("an endpoint may set its own limit", async () => {
    app = testApp();
    app.httpEndpoint("/small", { bodyLimit: 100 }, () => "ok");
    app.httpEndpoint("/default", () => "ok");
    const send = (url: string, size: number) =>
      app.inject({
        method: "POST",
        url,
        headers: { "content-type": "application/json" },
        payload: JSON.stringify("x".repeat(size - 2)),
      });
    expect((await send("/_/api/small", 100)).statusCode).toBe(200);
    expect((await send("/_/api/small", 101)).statusCode).toBe(413);
    expect((await send("/_/api/default", 101)).statusCode).toBe(200);
  });

  it("the app-wide limit comes from kiln.yaml settings.bodyLimit", async () => {
    app = testApp({ settings: { bodyLimit: 10 } });
    app.httpEndpoint("/x", () => "ok");
    const res = await app.inject({ method: "POST", url: "/_/api/x", payload: "x".repeat(11) });
    expect(res.statusCode).toBe(413);
  });

  it("settings.bodyLimit may be a size with a unit, in any case; 1 kb is 1024 bytes", async () => {
    const sendJson = (size: number) =>
      app.inject({
        method: "POST",
        url: "/_/api/x",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify("x".repeat(size - 2)),
      });
    app = testApp({ settings: { bodyLimit: "1kb" } });
    app.httpEndpoint("/x", () => "ok");
    expect((await sendJson(100)).statusCode).toBe(200);
    expect((await sendJson(1024)).statusCode).toBe(200);
    expect((await sendJson(1025)).statusCode).toBe(413);
    const tooBig = await sendJson(2048);
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json()).toEqual({ error: "Request body is too large" });
    await app.cleanup();
    app = testApp({ settings: { bodyLimit: "1.5KB" } });
    app.httpEndpoint("/x", () => "ok");
    expect((await sendJson(1536)).statusCode).toBe(200);
    expect((await sendJson(1537)).statusCode).toBe(413);
  });

  it("a settings.bodyLimit that is neither bytes nor a size with a unit is KILN_BAD_CONFIG", () => {
    for (const bodyLimit of ["10 megabytes", "1024", "10tb", "-1kb", "0kb", 0, -5, 1.5, true]) {
      let error: unknown;
      try {
        createApp({ name: "bad", logger: false, secret: "test", settings: { bodyLimit } as never });
      } catch (thrown) {
        error = thrown;
      }
      expect(error, JSON.stringify(bodyLimit)).toBeInstanceOf(KilnError);
      expect((error as KilnError).code).toBe("KILN_BAD_CONFIG");
      expect((error as KilnError).message).toBe(
        `settings.bodyLimit must be a number of bytes or a size with a unit, b, kb, mb or gb, such as "512kb" or "1.5mb" (got ${JSON.stringify(bodyLimit)})`,
      );
    }
  });
});
