import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/** Debian's chromium (installed by .ci/run with apt), driven by playwright-core. */
export const CHROMIUM = "/usr/bin/chromium";

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
