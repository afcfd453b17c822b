import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LightMyRequestResponse } from "fastify";
import { maybeContext } from "../../src/http/context.ts";
import { type AppConfig, createApp, type KilnApp } from "../../src/index.ts";
import { makeUsers } from "../../src/users/users.ts";
import type { TestDialect } from "../support/dialects.ts";

/** scrypt parameters cheap enough for tests (the default costs ~100 ms a hash). */
export const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };

export type UsersTestApp = KilnApp & { dataDir: string; cleanup(): Promise<void> };

let latest: KilnApp | undefined;

/**
 * `app.users` of the app the running test made last with `usersApp` (the second process of
 * `sameAppAs` after it is made), so that a test reads like an endpoint's code.
 */
export const users = makeUsers(() => {
  if (!latest) throw new Error("no usersApp() made yet");
  return latest.usersService();
}, maybeContext);

/**
 * A fresh app with fast password hashing in its own temp data folder (or `dataDir`, to play
 * a second process of the same app); `cleanup()` closes it and removes the folder it made.
 */
export function usersApp(config: AppConfig = {}, dataDir?: string): UsersTestApp {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "kiln-users-"));
  const { services, ...rest } = config;
  const users = (services?.users ?? {}) as Record<string, unknown>;
  const app = createApp({
    name: "test",
    dataDir: dir,
    logger: false,
    services: { ...services, users: { scrypt: FAST_SCRYPT, ...users } },
    ...rest,
  });
  latest = app;
  return Object.assign(app, {
    dataDir: dir,
    async cleanup() {
      await app.close();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  }) as UsersTestApp;
}

/** `usersApp` on a fresh database of the given backend (see support/dialects.ts). */
export async function usersAppOn(
  dialect: TestDialect,
  config: AppConfig = {},
): Promise<UsersTestApp> {
  const db = await dialect.freshDatabase();
  const app = usersApp({ ...config, databaseUrl: db.databaseUrl }, db.dataDir);
  const close = app.cleanup;
  return Object.assign(app, {
    async cleanup() {
      await close();
      await db.cleanup();
    },
  });
}

/** Another process of the same app: same data folder, same database; own memory and keys. */
export function sameAppAs(app: UsersTestApp, config: AppConfig = {}): UsersTestApp {
  return usersApp({ ...config, databaseUrl: app.config.databaseUrl }, app.dataDir);
}

/** `Authorization: Basic ...` for an email and password. */
export function basic(email: string, password: string): { authorization: string } {
  return { authorization: `Basic ${Buffer.from(`${email}:${password}`).toString("base64")}` };
}

/** A browser's cookie jar for `inject`: keeps what Set-Cookie says and sends it back. */
export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(readonly app: KilnApp) {}

  async send(
    url: string,
    options: {
      method?: "GET" | "POST";
      payload?: string | object;
      headers?: Record<string, string>;
    } = {},
  ): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.cookies.size > 0) {
      headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    }
    const res = await this.app.inject({
      method: options.method ?? "GET",
      url,
      headers,
      ...(options.payload ? { payload: options.payload } : {}),
    });
    const lines = res.headers["set-cookie"] ?? [];
    for (const line of Array.isArray(lines) ? lines : [lines]) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      if (/Max-Age=0(;|$)/i.test(line)) this.cookies.delete(pair.slice(0, eq));
      else this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  }
}
