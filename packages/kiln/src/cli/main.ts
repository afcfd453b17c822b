import { readFileSync } from "node:fs";
import type { Env } from "../app/resolve-config.ts";
import { KilnError } from "../errors.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { devCommand } from "./dev.ts";
import { newCommand } from "./new.ts";
import { startCommand } from "./start.ts";
import { tablesCommand } from "./tables.ts";
import { tokensCommand } from "./tokens.ts";
import { typesCommand } from "./types.ts";
import { usersCommand } from "./users.ts";

/** Every subcommand, in the order `kiln --help` lists them. */
export const commands: Command[] = [
  startCommand,
  devCommand,
  newCommand,
  usersCommand,
  tokensCommand,
  tablesCommand,
  typesCommand,
];

const HELP = () => `kiln — the easiest way to build HTTP and REST APIs in TypeScript

Usage: kiln <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`).join("\n")}

Run "kiln <command> --help" for a command's options.
Exit codes: 0 ok, 1 runtime failure, 2 usage error.`;

/**
 * Runs the CLI; resolves to the exit code. The entry point: the environment is read here and
 * handed down, so that commands and the apps they open resolve it in one place.
 */
export async function main(argv: string[], env: Env = process.env): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(HELP());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    console.log(`kiln ${version()}`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`kiln: unknown command "${name}". Run "kiln --help" for the list.`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.help);
    return 0;
  }
  try {
    return await command.run(rest, env);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`kiln ${name}: ${error.message}\nRun "kiln ${name} --help" for usage.`);
      return 2;
    }
    if (error instanceof KilnError) {
      console.error(`kiln ${name}: ${error.message}`);
      return 1;
    }
    console.error(`kiln ${name}: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  }
}

/** kilnjs's version, from its package.json (two folders up from both src/cli and dist/cli). */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return String(manifest.version);
}
