import { mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cookieApp, type TestApp } from "../cookies/cookie-test-app.ts";
import { browserTestsEnabled, foreignSite, launchBrowser } from "./browser.ts";
import { addLoginApp, type Seen } from "./login-app.ts";

/**
 * Kiln's cookie, session, CORS and XSRF rules, proven in a real browser (Debian's chromium via
 * playwright-core). Two servers on loopback: the app on http://127.0.0.1:A, and a "foreign
 * site" on port B, reached either as http://localhost:B (another site: the browser itself
 * withholds SameSite=Lax cookies) or as http://127.0.0.1:B (same site, other origin: the
 * browser sends the cookies, and only Kiln's XSRF rule keeps the page out of the session).
 */

const PASSWORD = "correct horse battery staple";
const ALICE = "alice@example.com";
const MALLORY = "mallory@example.com";
const ARTIFACTS = fileURLToPath(new URL("../../../../test-results/browser/", import.meta.url));

let app: TestApp;
let appUrl: string;
let foreign: Awaited<ReturnType<typeof foreignSite>>;
let browser: BrowserContext & { dispose(): Promise<void> };
const seen: Seen[] = [];
// KILN_TEST_BROWSER decides (browser.ts): required in CI, skipped with a notice without chromium.
const runBrowser = browserTestsEnabled();

beforeAll(async () => {
  if (!runBrowser) return;
  // Cheap scrypt parameters: the tests are about sessions, not password hashing cost.
  app = cookieApp({
    name: "browserdemo",
    services: { users: { scrypt: { N: 1024, r: 8, p: 1 } } },
  });
  foreign = await foreignSite();
  addLoginApp(app, seen, [foreign.sameSite, foreign.crossSite]);
  appUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  await app.users.addUser(ALICE, PASSWORD);
  await app.users.addUser(MALLORY, "mallory's own password");
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.dispose();
  await foreign?.close();
  await app?.cleanup();
});

beforeEach(async () => {
  if (!runBrowser) return;
  await browser.clearCookies();
  seen.length = 0;
});

/** Fills in and submits the login page, as a person would. */
async function submitLogin(email: string, password: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${appUrl}/_/api/login`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForLoadState("load"), page.click("button")]);
  return page;
}

async function logIn(email: string): Promise<Page> {
  const page = await submitLogin(email, PASSWORD);
  await page.waitForURL(`${appUrl}/_/api/home`);
  return page;
}

interface FetchOutcome {
  /** False when the browser refused to hand the answer to the script (CORS). */
  readable: boolean;
  status?: number;
  body?: unknown;
  error?: string;
}

/** Runs `fetch(url, init)` in the page's own script context, as that page's code would. */
function fetchFrom(page: Page, url: string, init: RequestInit = {}): Promise<FetchOutcome> {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const res = await fetch(url, init);
        if (res.type === "opaque") return { readable: false, status: 0 };
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

async function openForeign(origin: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  return page;
}

const withCookies = { credentials: "include" } as const;

describe.runIf(runBrowser)("in a browser", () => {
  it("a user logs in on the app's login page, and the app's own fetches see the user", async () => {
    const page = await browser.newPage();
    await page.goto(`${appUrl}/_/api/login`);
    await expect(page.title()).resolves.toBe("Kiln demo");
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = `${ARTIFACTS}login-page.png`;
    await page.screenshot({ path: shot });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe("PNG");

    const home = await logIn(ALICE);
    await expect(home.textContent("#welcome")).resolves.toBe(`Signed in as ${ALICE}`);
    const me = await fetchFrom(home, "/_/api/me");
    expect(me.body).toMatchObject({ user: ALICE, cookieSent: true });
    // The session cookie is HttpOnly: the page's own scripts cannot read it.
    await expect(home.evaluate("document.cookie")).resolves.toBe("");
    const jar = await browser.cookies(appUrl);
    expect(jar.find((c) => c.name === "kiln-session.browserdemo")).toMatchObject({
      httpOnly: true,
      sameSite: "Lax",
    });
    // The device cookie the login left (see the guessing defence) is HttpOnly and Lax too.
    expect(jar.find((c) => c.name === "kiln.browserdemo._kiln_device")).toMatchObject({
      httpOnly: true,
      sameSite: "Lax",
    });
  });

  it("a same-site page on another origin sends the cookie, but Kiln gives it a fresh session", async () => {
    await logIn(ALICE);
    const page = await openForeign(foreign.sameSite);
    const answer = await fetchFrom(page, `${appUrl}/_/api/me-cors`, withCookies);
    // crossOrigin: true never lets a credentialed answer be read...
    expect(answer.readable).toBe(false);
    // ...the browser did send the session cookie (same site, SameSite=Lax allows it)...
    const [ran] = seen.filter((s) => s.path === "/_/api/me-cors");
    expect(ran).toMatchObject({ cookieSent: true, origin: foreign.sameSite });
    // ...and Kiln, seeing a foreign Origin, ran the request without the user.
    expect(ran).toMatchObject({ user: null });
  });

  it("a foreign page cannot change the session, from the same site or another", async () => {
    const home = await logIn(ALICE);
    const forge = (page: Page, path: string, body: string) =>
      // A classic forged form post: the page cannot read the answer, but the request is sent.
      fetchFrom(page, `${appUrl}${path}`, {
        ...withCookies,
        method: "POST",
        mode: "no-cors",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
    for (const origin of [foreign.sameSite, foreign.crossSite]) {
      const page = await openForeign(origin);
      expect((await forge(page, "/_/api/logout", "")).readable).toBe(false);
      // Login CSRF: putting the attacker's own account into the victim's browser.
      expect((await forge(page, "/_/api/become", `email=${MALLORY}`)).readable).toBe(false);
    }
    // Every forged request reached its handler, which ran in a throwaway session...
    const forged = seen.filter((s) => s.origin !== null);
    expect(forged.map((s) => [s.path, s.origin, s.user])).toEqual([
      ["/_/api/logout", foreign.sameSite, null],
      ["/_/api/become", foreign.sameSite, MALLORY],
      ["/_/api/logout", foreign.crossSite, null],
      ["/_/api/become", foreign.crossSite, MALLORY],
    ]);
    // ...and the browser is still logged in as alice.
    expect((await fetchFrom(home, "/_/api/me")).body).toMatchObject({ user: ALICE });
    await home.reload();
    await expect(home.textContent("#welcome")).resolves.toBe(`Signed in as ${ALICE}`);
  });

  it("a wrong password on the login page logs nobody in", async () => {
    const page = await submitLogin(ALICE, "not the password");
    await expect(page.textContent("#error")).resolves.toContain("Incorrect");
    expect((await fetchFrom(page, "/_/api/me")).body).toMatchObject({ user: null });
  });

  it("a listed origin on the same site uses the session; SameSite=Lax still guards other sites", async () => {
    await logIn(ALICE);
    const sameSite = await openForeign(foreign.sameSite);
    const shared = await fetchFrom(sameSite, `${appUrl}/_/api/me-shared`, withCookies);
    expect(shared.body).toMatchObject({ user: ALICE, cookieSent: true });
    // From another site the browser does not send a SameSite=Lax cookie at all.
    const crossSite = await openForeign(foreign.crossSite);
    const cross = await fetchFrom(crossSite, `${appUrl}/_/api/me-shared`, withCookies);
    expect(cross.body).toMatchObject({ user: null, cookieSent: false });
  });

  it("a crossOrigin endpoint is readable by a foreign page's script; a plain one is blocked", async () => {
    await logIn(ALICE);
    const page = await openForeign(foreign.crossSite);
    const open = await fetchFrom(page, `${appUrl}/_/api/me-cors`);
    expect(open).toMatchObject({ readable: true, status: 200, body: { user: null } });
    // crossOrigin: true is for answers without credentials: a credentialed read is refused.
    expect((await fetchFrom(page, `${appUrl}/_/api/me-cors`, withCookies)).readable).toBe(false);
    const plain = await fetchFrom(page, `${appUrl}/_/api/me`);
    expect(plain.readable).toBe(false);
    expect(plain.error).toMatch(/TypeError/);

    // A PUT with a custom header needs a preflight: answered for crossOrigin only.
    const put = { method: "PUT", headers: { "x-demo": "1" } };
    const allowed = await fetchFrom(page, `${appUrl}/_/api/write-cors`, put);
    expect(allowed).toMatchObject({ readable: true, status: 200 });
    const refused = await fetchFrom(page, `${appUrl}/_/api/write`, put);
    expect(refused.readable).toBe(false);
    // The refused preflight kept the PUT itself from ever reaching the handler.
    expect(seen.filter((s) => s.path === "/_/api/write")).toEqual([]);
  });

  it("a cookie edited in the browser's cookie jar reads as absent", async () => {
    const home = await logIn(ALICE);
    await fetchFrom(home, "/_/api/pref", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "value=dark",
    });
    expect((await fetchFrom(home, "/_/api/pref")).body).toEqual({ pref: "dark" });

    const jar = await browser.cookies(appUrl);
    const edited = jar.map((cookie) => ({
      ...cookie,
      value:
        cookie.value.slice(0, 10) + (cookie.value[10] === "A" ? "B" : "A") + cookie.value.slice(11),
    }));
    expect(edited.map((c) => c.name).sort()).toEqual([
      "kiln-session.browserdemo",
      "kiln.browserdemo._kiln_device",
      "kiln.browserdemo.pref",
    ]);
    await browser.addCookies(edited);

    expect((await fetchFrom(home, "/_/api/pref")).body).toEqual({ pref: null });
    expect((await fetchFrom(home, "/_/api/me")).body).toMatchObject({ user: null });
  });
});
