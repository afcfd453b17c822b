import { resolve } from "node:path";
import { readKilnYaml } from "../app/config.ts";
import { createApp, type KilnApp } from "../app/create-app.ts";
import type { Env } from "../app/resolve-config.ts";

/**
 * The app that a command with `--app DIR` and `--data PATH` (APP_OPTIONS) acts on, created
 * without a logger: `kiln users` and `kiln tokens` print their own one-line answers.
 * @example const app = openCommandApp(values); await app.ready();
 */
export function openCommandApp(values: { app?: unknown; data?: unknown }, env: Env): KilnApp {
  const dir = resolve((values.app as string | undefined) ?? ".");
  return createApp({
    ...readKilnYaml(resolve(dir, "kiln.yaml")),
    dir,
    ...(values.data ? { dataDir: resolve(values.data as string) } : {}),
    logger: false,
    env,
  });
}
