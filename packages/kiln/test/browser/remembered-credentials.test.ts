import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HttpError, type KilnApp, loadApp, request, tables, users } from "../../src/index.ts";
import { browserTestsEnabled, foreignSite, launchBrowser } from "./browser.ts";

/**
 * Browsers remember the Basic credentials a user typed into the prompt (Kiln's own 401 +
 * WWW-Authenticate brings it up) and attach them by themselves to later requests to the app,
 * whichever page caused the request. These tests let the victim answer the prompt once, turn
 * the prompt handler off, and then let pages of other origins try to act as the victim:
 *
 * - the To-Do example (examples/todo) on http://127.0.0.1:A, plus two endpoints an app
 *   might add: `/public/tasks` (`crossOrigin: true`) and `/partner/tasks` (`crossOrigin`
 *   listing one partner origin), both `authenticateUsers`;
 * - a foreign server on port B, reached as http://localhost:B (another site) and as
 *   http://127.0.0.1:B (the same site, another origin); a partner on http://127.0.0.1:C.
 */

const EXAMPLE = new URL("../../../../examples/todo", import.meta.url).pathname;
const ALICE = "alice@example.com";
const PASSWORD = "alice's long password";

let app: KilnApp;
let dataDir: string;
let appUrl: string;
let foreign: Awaited<ReturnType<typeof foreignSite>>;
let partner: Awaited<ReturnType<typeof foreignSite>>;
let browser: BrowserContext & { dispose(): Promise<void> };
// KILN_TEST_BROWSER decides (browser.ts): required in CI, skipped with a notice without chromium.
const runBrowser = browserTestsEnabled();

beforeAll(async () => {
  if (!runBrowser) return;
  foreign = await foreignSite();
  partner = await foreignSite();
  dataDir = mkdtempSync(join(tmpdir(), "kiln-remembered-"));
  app = await loadApp(EXAMPLE, {
    dataDir,
    logger: false,
    services: { users: { scrypt: { N: 1024, r: 8, p: 1 } } },
  });
  const tasksOfUser = async () => {
    const user = users.getUser();
    if (request.method === "PUT") {
      const title = (request.bodyJson as { title?: unknown } | null)?.title;
      if (typeof title !== "string") throw new HttpError(400, "title must be a string");
      await tables.tasks.addRow({ title, done: false, owner: user });
    }
    const rows = await tables.tasks.search({ owner: user }).toArray();
    return { user: user?.email, titles: rows.map((row) => row.title) };
  };
  const methods = ["GET", "PUT"] as const;
  app.httpEndpoint(
    "/public/tasks",
    { authenticateUsers: true, crossOrigin: true, methods },
    tasksOfUser,
  );
  app.httpEndpoint(
    "/partner/tasks",
    { authenticateUsers: true, crossOrigin: [partner.sameSite], methods },
    tasksOfUser,
  );
  // A login form's endpoint, as apps with HTML pages have.
  app.httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) => {
    await users.loginWithEmail(email ?? "", password ?? "");
    return { ok: true };
  });
  appUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  await app.users.addUser(ALICE, PASSWORD);
  browser = await launchBrowser();
  await answerThePromptOnce();
});

afterAll(async () => {
  await browser?.dispose();
  await foreign?.close();
  await partner?.close();
  await app?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Alice's task titles, straight from the database. */
async function aliceTitles(): Promise<string[]> {
  const alice = await app.users.getUserByEmail(ALICE);
  return (await app.tables.tasks.search({ owner: alice }).toArray()).map((row) =>
    String(row.title),
  );
}

let before: string[];
beforeEach(async () => {
  before = await aliceTitles();
});

/**
 * The victim opens the To-Do list; Kiln's 401 brings up the Basic prompt, which she answers
 * once (through the DevTools protocol: headless Chromium has no dialog). The handler is then
 * switched off: from here on, whatever credentials requests carry, the browser attached them
 * by itself from its own memory.
 */
async function answerThePromptOnce(): Promise<void> {
  const page = await browser.newPage();
  const cdp = await browser.newCDPSession(page);
  let prompts = 0;
  cdp.on("Fetch.requestPaused", ({ requestId }) => {
    // Late events (a favicon) may arrive after Fetch.disable: nothing to continue then.
    cdp.send("Fetch.continueRequest", { requestId }).catch(() => undefined);
  });
  cdp.on("Fetch.authRequired", ({ requestId }) => {
    prompts++;
    cdp
      .send("Fetch.continueWithAuth", {
        requestId,
        authChallengeResponse: {
          response: "ProvideCredentials",
          username: ALICE,
          password: PASSWORD,
        },
      })
      .catch(() => undefined);
  });
  await cdp.send("Fetch.enable", { handleAuthRequests: true });
  const answer = await page.goto(`${appUrl}/_/api/tasks`);
  expect(answer?.status()).toBe(200);
  await cdp.send("Fetch.disable");
  await cdp.detach();
  await page.close();
  expect(prompts).toBe(1);

  // The browser now sends the credentials by itself: a fresh page reads the list, no prompt.
  const again = await browser.newPage();
  const list = await again.goto(`${appUrl}/_/api/tasks`);
  expect(list?.status()).toBe(200);
  await again.close();
}

async function openPage(origin: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  return page;
}

/**
 * The classic forged request: a page of `origin` whose own script builds a form and submits
 * it. Returns what the browser shows afterwards.
 */
async function autoSubmitForm(
  page: Page,
  origin: string,
  action: string,
  fields: Record<string, string>,
): Promise<string> {
  await page.goto(`${origin}/`);
  await Promise.all([
    page.waitForLoadState("load"),
    page.waitForURL(action),
    page.evaluate(
      ({ action, fields }) => {
        const { document } = globalThis as unknown as PageGlobals;
        const form = document.createElement("form");
        form.method = "POST";
        form.action = action;
        for (const [name, value] of Object.entries(fields)) {
          const input = document.createElement("input");
          input.name = name;
          input.value = value;
          form.append(input);
        }
        document.body.append(form);
        form.submit();
      },
      { action, fields },
    ),
  ]);
  return page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.textContent);
}

/** What the page scripts below use of the browser (the suite compiles without DOM types). */
interface PageElement {
  name: string;
  value: string;
  method: string;
  action: string;
  textContent: string;
  append(child: PageElement): void;
  submit(): void;
}
interface PageGlobals {
  document: { body: PageElement; createElement(tag: string): PageElement };
  location: { href: string };
}

interface FetchOutcome {
  readable: boolean;
  status?: number;
  body?: unknown;
  error?: string;
}

/** `fetch(url, init)` run by the page's own script. */
function fetchFrom(page: Page, url: string, init: RequestInit): Promise<FetchOutcome> {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const res = await fetch(url, init);
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        return { readable: true, status: res.status, body };
      } catch (error) {
        return { readable: false, error: String(error) };
      }
    },
    { url, init: init as Record<string, unknown> },
  );
}

const credentialed = { credentials: "include" } as const;
const putTask = (title: string): RequestInit => ({
  ...credentialed,
  method: "PUT",
  // A JSON content type makes the PUT a preflighted request.
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ title }),
});

describe.runIf(runBrowser)("after the victim answered the Basic prompt once", () => {
  it("an auto-submitted form on another site cannot create a task in her list", async () => {
    const page = await browser.newPage();
    const shown = await autoSubmitForm(page, foreign.crossSite, `${appUrl}/_/api/new_task`, {
      title: "forged by another site",
    });
    expect(shown).toContain("another site");
    // The same form from the same site, another port: refused too.
    await autoSubmitForm(page, foreign.sameSite, `${appUrl}/_/api/new_task`, {
      title: "forged, same site",
    });
    expect(await aliceTitles()).toEqual(before);
  });

  it("a same-site page on another port can neither read nor write as her", async () => {
    const page = await openPage(foreign.sameSite);
    for (const path of ["/_/api/tasks", "/_/api/public/tasks", "/_/api/partner/tasks"]) {
      const read = await fetchFrom(page, `${appUrl}${path}`, credentialed);
      expect([path, read.readable]).toEqual([path, false]);
    }
    for (const path of ["/_/api/public/tasks", "/_/api/partner/tasks"]) {
      const write = await fetchFrom(page, `${appUrl}${path}`, putTask(`forged PUT to ${path}`));
      expect([path, write.readable]).toEqual([path, false]);
    }
    // The only answer it may read: crossOrigin: true without credentials, a refusal.
    const anonymous = await fetchFrom(page, `${appUrl}/_/api/public/tasks`, {
      credentials: "omit",
    });
    expect(anonymous).toMatchObject({ readable: true, status: 403 });
    expect(await aliceTitles()).toEqual(before);
  });

  it("a listed origin still reads and writes as her", async () => {
    const page = await openPage(partner.sameSite);
    const write = await fetchFrom(
      page,
      `${appUrl}/_/api/partner/tasks`,
      putTask("added by the partner"),
    );
    expect(write).toMatchObject({ readable: true, status: 200, body: { user: ALICE } });
    const read = await fetchFrom(page, `${appUrl}/_/api/partner/tasks`, credentialed);
    expect(read.body).toEqual({ user: ALICE, titles: [...before, "added by the partner"] });
    expect(await aliceTitles()).toEqual([...before, "added by the partner"]);
    // Listed on that endpoint only.
    const elsewhere = await fetchFrom(page, `${appUrl}/_/api/tasks`, credentialed);
    expect(elsewhere.readable).toBe(false);
  });

  it("login attempts a foreign page makes never count against her account", async () => {
    const page = await browser.newPage();
    // Forged logins with wrong passwords, past the free failures (5), which would make her
    // next attempt wait 8 s if they counted...
    for (let i = 0; i < 8; i++) {
      await autoSubmitForm(page, foreign.crossSite, `${appUrl}/_/api/login`, {
        email: ALICE,
        password: `guess ${i}`,
      });
    }
    // ...and navigations to URLs with a password in them.
    const host = new URL(appUrl).host;
    for (let i = 0; i < 5; i++) {
      await page.goto(`${foreign.crossSite}/`);
      const target = `http://${encodeURIComponent(ALICE)}:guess${i}@${host}/_/api/tasks`;
      await Promise.all([
        // Chromium keeps the credentials in the address: match the path only.
        page.waitForURL(
          (url) => url.port === new URL(appUrl).port && url.pathname === "/_/api/tasks",
        ),
        page.evaluate((url) => {
          (globalThis as unknown as PageGlobals).location.href = url;
        }, target),
      ]);
    }
    expect((await app.users.getUserByEmail(ALICE))?.nPasswordFailures).toBe(0);
    // She logs in from her own page at once, from the same address.
    const home = await browser.newPage();
    await home.goto(`${appUrl}/_/api/hello`);
    const login = await fetchFrom(home, `${appUrl}/_/api/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `email=${encodeURIComponent(ALICE)}&password=${encodeURIComponent(PASSWORD)}`,
    });
    expect(login).toMatchObject({ status: 200, body: { ok: true } });
  }, 60_000);
});
