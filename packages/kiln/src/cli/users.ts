import type { KilnApp } from "../app/create-app.ts";
import { isKilnError } from "../errors.ts";
import { APP_OPTIONS, type Command, parseCommandArgs, UsageError } from "./command.ts";
import { openCommandApp } from "./open-app.ts";
import { readPassword } from "./read-password.ts";

const HELP = `Usage: kiln users <action> [EMAIL] [--password PW] [--app DIR] [--data PATH]

Manages the accounts of the app's Users service (the users table).

Actions:
  add EMAIL            create an enabled account
  list                 list accounts: email, enabled, signed up, last login
  disable EMAIL        refuse this account's logins (takes effect at once)
  enable EMAIL         allow them again
  set-password EMAIL   set a new password (remembered credentials stop working at once)
  remove EMAIL         delete the account for good, with its API tokens and sessions
                       (no confirmation asked; prints what it removed)

Options:
  --password PW   the password for add / set-password. Without it, kiln asks for it (hidden)
                  on a terminal, or reads the first line of standard input otherwise
                  (echo "$PW" | kiln users add ada@example.com). Mind shell history with --password.
  --app DIR       the app folder (default: the current folder)
  --data PATH     data folder (default $KILN_DATA or DIR/.kiln); DATABASE_URL selects PostgreSQL

Exit codes: 0 ok, 1 failure (no such user, email taken, password too short), 2 usage error.`;

const ACTIONS = ["add", "list", "disable", "enable", "set-password", "remove"];

export const usersCommand: Command = {
  name: "users",
  summary: "add, list, disable, enable, remove users; set passwords",
  help: HELP,
  async run(argv, env) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...APP_OPTIONS,
      password: { type: "string" },
    });
    const [action, email, ...extra] = positionals;
    if (!action || !ACTIONS.includes(action)) {
      throw new UsageError(`expected an action: ${ACTIONS.join(", ")}`);
    }
    const needsEmail = action !== "list";
    if (needsEmail && !email) throw new UsageError(`missing EMAIL: kiln users ${action} EMAIL`);
    if (extra.length > 0 || (!needsEmail && email)) {
      throw new UsageError(`unexpected argument: ${(needsEmail ? extra : [email])[0]}`);
    }
    if (values.password !== undefined && action !== "add" && action !== "set-password") {
      throw new UsageError(`--password only goes with add and set-password`);
    }
    const app = openCommandApp(values, env);
    try {
      await app.ready();
      return await act(app, action, email ?? "", values.password as string | undefined);
    } catch (error) {
      if (!isKilnError(error)) throw error;
      console.error(`kiln users ${action}: ${error.message}`);
      return 1;
    } finally {
      await app.close();
    }
  },
};

async function act(app: KilnApp, action: string, email: string, password?: string) {
  const service = app.services.users;
  if (!service) throw new Error("the Users service did not start");
  if (action === "list") {
    await printUsers(service.allUsers());
    return 0;
  }
  if (action === "add") {
    const user = await service.addUser(email, password ?? (await readPassword({ confirm: true })));
    console.log(`Added ${user.email} (${user.id})`);
    return 0;
  }
  const user = await service.findByEmail(email);
  if (!user) {
    console.error(`kiln users ${action}: no user with the email ${email}`);
    return 1;
  }
  if (action === "remove") {
    const { tokens, sessions } = await service.removeUser(user);
    console.log(
      `Removed ${user.email} (${user.id}), ${count(tokens, "API token")} and ${count(sessions, "session")}`,
    );
  } else if (action === "set-password") {
    await service.setPassword(user, password ?? (await readPassword({ confirm: true })));
    console.log(`New password set for ${user.email}`);
  } else {
    await user.update({ enabled: action === "enable" });
    console.log(`${action === "enable" ? "Enabled" : "Disabled"} ${user.email}`);
  }
  return 0;
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/** Prints the users as they are fetched, a page at a time: any number of them fits. */
async function printUsers(rows: AsyncIterable<Record<string, unknown>>): Promise<void> {
  const line = (cells: string[]) =>
    console.log(cells.map((cell, i) => (i < 3 ? cell.padEnd(WIDTHS[i]!) : cell)).join("  "));
  line(["EMAIL", "ENABLED", "SIGNED UP", "LAST LOGIN"]);
  for await (const row of rows) {
    line([
      String(row.email ?? ""),
      row.enabled === true ? "yes" : "no",
      when(row.signedUp),
      when(row.lastLogin),
    ]);
  }
}

/** Column widths: an email up to 30 characters keeps the columns aligned. */
const WIDTHS = [30, 7, 20];

function when(value: unknown): string {
  return value instanceof Date ? value.toISOString().replace(/\.\d+Z$/, "Z") : "-";
}
