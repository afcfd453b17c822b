import { type ParseArgsConfig, parseArgs } from "node:util";
import type { Env } from "../app/resolve-config.ts";

/** A `kiln` subcommand: one file each under cli/. */
export interface Command {
  name: string;
  summary: string;
  /** Full help text printed by `kiln NAME --help`. */
  help: string;
  /** `env`: the environment the CLI was started with (main.ts), for resolve-config.ts. */
  run(argv: string[], env: Env): Promise<number>;
}

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {}

/** `node:util` parseArgs, with its errors turned into usage errors. */
export function parseCommandArgs(
  argv: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Parses a `--port`-like option: an integer in range, else a usage error. */
export function intOption(value: string | boolean | undefined, name: string, min = 0, max = 65535) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `--${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return n;
}

/** The options every command that acts on an app takes. */
export const APP_OPTIONS = {
  app: { type: "string" },
  data: { type: "string" },
} as const;
