import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobMedia, HttpError, request } from "../../src/index.ts";
import { head, type ListeningApp, listeningApp, rawRequest } from "../reliability/raw-http.ts";
import { browserTestsEnabled, launchBrowser } from "./browser.ts";

/**
 * A user uploads an HTML file with a script; the app serves it back as Media. Opened in a
 * real Chromium, it must be downloaded, not rendered as a page of the app (where its script
 * would run with the app's origin). Every answer, of any kind, carries nosniff.
 */

const EVIL = `<!doctype html><title>evil</title><script>document.title = "script ran"; fetch("/_/api/stolen", { method: "POST" })</script>`;

let app: ListeningApp;
let uploaded: { type: string; bytes: Buffer; name: string | null } | null = null;
let stolen = 0;

beforeAll(async () => {
  app = await listeningApp((app) => {
    app.httpEndpoint("/upload", { methods: ["POST"] }, () => {
      const file = request.files.file;
      if (!file) throw new HttpError(400, "no file");
      uploaded = { type: file.contentType, bytes: file.getBytes(), name: file.name };
      return "ok";
    });
    app.httpEndpoint("/file", () => new BlobMedia(uploaded!.type, uploaded!.bytes, uploaded!.name));
    app.httpEndpoint("/file-unnamed", () => new BlobMedia(uploaded!.type, uploaded!.bytes));
    app.httpEndpoint(
      "/file-inline",
      () => new BlobMedia("text/plain", "shown in the browser", "note.txt", { inline: true }),
    );
    app.httpEndpoint("/stolen", { methods: ["POST"] }, () => {
      stolen++;
      return "ok";
    });
    app.httpEndpoint("/text", () => "plain text");
    app.httpEndpoint("/fails", () => {
      throw new Error("boom");
    });
  });
});
afterAll(async () => {
  await app?.cleanup();
});

async function upload(): Promise<void> {
  const form = new FormData();
  form.append("file", new Blob([EVIL], { type: "text/html" }), "page.html");
  const res = await fetch(`${app.url}/_/api/upload`, { method: "POST", body: form });
  expect(res.status).toBe(200);
}

describe("uploaded files served back", () => {
  it("are attachments unless the app marks them inline", async () => {
    await upload();
    const named = await fetch(`${app.url}/_/api/file`);
    expect(named.headers.get("content-disposition")).toBe(
      `attachment; filename="page.html"; filename*=UTF-8''page.html`,
    );
    const unnamed = await fetch(`${app.url}/_/api/file-unnamed`);
    expect(unnamed.headers.get("content-type")).toBe("text/html");
    expect(unnamed.headers.get("content-disposition")).toBe("attachment");
    const inline = await fetch(`${app.url}/_/api/file-inline`);
    expect(inline.headers.get("content-disposition")).toBe(
      `inline; filename="note.txt"; filename*=UTF-8''note.txt`,
    );
    expect(await inline.text()).toBe("shown in the browser");
  });

  // KILN_TEST_BROWSER decides (browser.ts): required in CI, skipped with a notice without chromium.
  it.runIf(browserTestsEnabled())(
    "are downloaded by Chromium, not rendered in the app's origin",
    async () => {
      await upload();
      const browser = await launchBrowser();
      try {
        for (const path of ["/_/api/file", "/_/api/file-unnamed"]) {
          const page = await browser.newPage();
          const download = page.waitForEvent("download");
          // Navigating to an attachment starts a download; Playwright reports it as an abort.
          await page.goto(`${app.url}${path}`).catch(() => undefined);
          expect((await download).suggestedFilename()).toMatch(/\.html$|file-unnamed/);
          expect(await page.title()).not.toBe("script ran");
          await page.close();
        }
        const inline = await browser.newPage();
        await inline.goto(`${app.url}/_/api/file-inline`);
        expect(await inline.textContent("body")).toBe("shown in the browser");
        await inline.close();
        expect(stolen).toBe(0);
      } finally {
        await browser.dispose();
      }
    },
  );
});

describe("X-Content-Type-Options: nosniff", () => {
  it("is on every answer: success, media, 404, 405, 413, 500, health, malformed URL and HTTP", async () => {
    const answers = await Promise.all([
      fetch(`${app.url}/_/api/text`),
      fetch(`${app.url}/_/api/file-inline`),
      fetch(`${app.url}/_/api/nowhere`),
      fetch(`${app.url}/_/api/text`, { method: "DELETE" }),
      fetch(`${app.url}/_/api/stolen`, { method: "POST", body: new Uint8Array(2 * 1024 * 1024) }),
      fetch(`${app.url}/_/api/fails`),
      fetch(`${app.url}/_/health`),
      fetch(`${app.url}/_/api/%E0%A4%A`),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 404, 405, 413, 500, 200, 400]);
    for (const res of answers) expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const malformed = await rawRequest(app.port, "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    expect(malformed.status).toBe(400);
    expect(malformed.headers["x-content-type-options"]).toBe("nosniff");
    const ok = await rawRequest(app.port, head("GET /_/api/text HTTP/1.1"));
    expect(ok.headers["x-content-type-options"]).toBe("nosniff");
  });
});
