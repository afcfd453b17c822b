import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LightMyRequestResponse } from "fastify";
import { type AppConfig, createApp, type KilnApp } from "../../src/index.ts";

export type TestApp = KilnApp & { dataDir: string; cleanup(): Promise<void> };

/** A fresh app in its own temp data folder; `cleanup()` closes it and removes the folder. */
export function cookieApp(config: AppConfig = {}, dataDir?: string): TestApp {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "kiln-cookies-"));
  const app = createApp({ name: "cookietest", dataDir: dir, logger: false, ...config });
  return Object.assign(app, {
    dataDir: dir,
    async cleanup() {
      await app.close();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  }) as TestApp;
}

/** The Set-Cookie lines of a response. */
export function setCookies(res: LightMyRequestResponse): string[] {
  const header = res.headers["set-cookie"];
  if (header === undefined) return [];
  return Array.isArray(header) ? header : [header];
}

/** A minimal browser cookie jar for `inject`: keeps what Set-Cookie says, sends it back. */
export class TestJar {
  readonly cookies = new Map<string, string>();

  /** The `Cookie` header to send (undefined when empty). */
  get header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  /** Takes in a response's Set-Cookie lines; returns the response for chaining. */
  take(res: LightMyRequestResponse): LightMyRequestResponse {
    for (const line of setCookies(res)) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      if (/Max-Age=0(;|$)/.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1));
    }
    return res;
  }

  /** Sends a request carrying this jar's cookies, and keeps what comes back. */
  async send(
    app: KilnApp,
    url: string,
    options: { method?: "GET" | "POST" | "PUT" | "DELETE"; headers?: Record<string, string> } = {},
  ): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = { ...options.headers };
    const cookie = this.header;
    if (cookie) headers.cookie = cookie;
    return this.take(await app.inject({ method: options.method ?? "GET", url, headers }));
  }

  /** The value of the cookie whose name starts with `prefix`. */
  find(prefix: string): [string, string] | undefined {
    return [...this.cookies].find(([name]) => name.startsWith(prefix));
  }
}
