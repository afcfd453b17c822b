import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { noticeOnce } from "../support/notice.ts";

/** Debian's chromium (installed by .ci/run with apt), driven by playwright-core. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Whether the browser tests run, from KILN_TEST_BROWSER (the same rule as KILN_TEST_PG):
 * - `required` (or `1`): they must; a missing chromium fails loudly (throws);
 * - `0`: they are skipped;
 * - unset (or empty): they run when chromium is installed, else are skipped with one line
 *   saying so (once per test run);
 * - anything else is a mistake, and throws rather than guess.
 * `.ci/run` sets `required` whatever the environment says.
 * @example const runBrowser = browserTestsEnabled(); describe.runIf(runBrowser)(...)
 */
export function browserTestsEnabled(): boolean {
  const mode = process.env.KILN_TEST_BROWSER ?? "";
  if (!["", "0", "1", "required"].includes(mode)) {
    throw new Error(
      `KILN_TEST_BROWSER=${mode} is not understood: use required (or 1), 0, or leave it unset`,
    );
  }
  if (mode === "0") return false;
  if (existsSync(CHROMIUM)) return true;
  if (mode === "required" || mode === "1") {
    throw new Error(
      `KILN_TEST_BROWSER=${mode} but ${CHROMIUM} is missing: install it with \`apt-get install -y chromium\`, or unset KILN_TEST_BROWSER to skip the browser tests`,
    );
  }
  noticeOnce(
    "browser",
    `Browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium; set KILN_TEST_BROWSER=required to insist)`,
  );
  return false;
}

/**
 * A fresh headless chromium with a fresh profile (user-data-dir), so no cookie, cache or HSTS
 * entry survives from one run to the next.
 */
export async function launchBrowser(): Promise<BrowserContext & { dispose(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install it with \`apt-get update && apt-get install -y chromium\` (.ci/run does)`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), "kiln-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return Object.assign(context, {
    async dispose() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  });
}

/**
 * The "foreign site": a server with one blank page, whose scripts the tests drive. The same
 * server is reached as `http://localhost:PORT` (another *site* than the app on 127.0.0.1:
 * SameSite=Lax cookies are not sent from it) and as `http://127.0.0.1:PORT` (the same site as
 * the app but another *origin*: the browser sends SameSite=Lax cookies, so only Kiln's XSRF
 * rule stands between it and the session).
 */
export async function foreignSite(): Promise<{
  crossSite: string;
  sameSite: string;
  close(): Promise<void>;
}> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>A foreign site</title><h1>Somebody else's page</h1>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    crossSite: `http://localhost:${port}`,
    sameSite: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
