import type { KilnApp } from "../app/create-app.ts";
import { isKilnError } from "../errors.ts";
import type { TokenInfo } from "../users/tokens.ts";
import { APP_OPTIONS, type Command, parseCommandArgs, UsageError } from "./command.ts";
import { openCommandApp } from "./open-app.ts";

const HELP = `Usage: kiln tokens <action> [EMAIL | ID] [--name NAME] [--expires DURATION] [--app DIR] [--data PATH]

Manages the API tokens of the app's users. A client sends a token as
"Authorization: Bearer <token>" to endpoints with authenticateUsers.

Actions:
  add EMAIL        create a token for this user and print it (shown this once: Kiln keeps
                   only its SHA-256)
  list EMAIL       list the user's tokens: id, name, created, expires, last used
  revoke ID        revoke the token with this id (refused at once by every process)
  revoke-all EMAIL revoke every token of this user

Options:
  --name NAME          what the token is for (add; default "cli")
  --expires DURATION   lifetime of the token (add): seconds, or 90d, 12h, 30m; default never
  --app DIR            the app folder (default: the current folder)
  --data PATH          data folder (default $KILN_DATA or DIR/.kiln); DATABASE_URL selects PostgreSQL

Exit codes: 0 ok, 1 failure (no such user or token), 2 usage error.`;

const ACTIONS = ["add", "list", "revoke", "revoke-all"];

export const tokensCommand: Command = {
  name: "tokens",
  summary: "add, list, revoke users' API tokens",
  help: HELP,
  async run(argv, env) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...APP_OPTIONS,
      name: { type: "string" },
      expires: { type: "string" },
    });
    const [action, target, ...extra] = positionals;
    if (!action || !ACTIONS.includes(action)) {
      throw new UsageError(`expected an action: ${ACTIONS.join(", ")}`);
    }
    const what = action === "revoke" ? "ID" : "EMAIL";
    if (!target) throw new UsageError(`missing ${what}: kiln tokens ${action} ${what}`);
    if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra[0]}`);
    if ((values.name !== undefined || values.expires !== undefined) && action !== "add") {
      throw new UsageError("--name and --expires only go with add");
    }
    const expires = values.expires as string | undefined;
    const app = openCommandApp(values, env);
    try {
      await app.ready();
      return await act(app, action, target, {
        name: (values.name as string | undefined) ?? "cli",
        // A bare number is seconds, as in users.createToken.
        expiresIn: expires !== undefined && /^\d+$/.test(expires) ? Number(expires) : expires,
      });
    } catch (error) {
      if (!isKilnError(error)) throw error;
      console.error(`kiln tokens ${action}: ${error.message}`);
      return 1;
    } finally {
      await app.close();
    }
  },
};

async function act(
  app: KilnApp,
  action: string,
  target: string,
  options: { name: string; expiresIn: string | number | undefined },
): Promise<number> {
  const service = app.services.users;
  if (!service) throw new Error("the Users service did not start");
  if (action === "revoke") {
    if (!(await service.revokeToken(target))) {
      console.error(`kiln tokens revoke: no token with the id ${target}`);
      return 1;
    }
    console.log(`Revoked token ${target}`);
    return 0;
  }
  const user = await service.findByEmail(target);
  if (!user) {
    console.error(`kiln tokens ${action}: no user with the email ${target}`);
    return 1;
  }
  if (action === "add") {
    const made = await service.createToken(user, options);
    // The secret alone on stdout, so that `TOKEN=$(kiln tokens add ...)` works; the rest on stderr.
    console.error(`Token ${made.id} (${made.name}) for ${user.email}, ${expiry(made)}:`);
    console.log(made.token);
    return 0;
  }
  if (action === "revoke-all") {
    const n = await service.revokeAllTokens(user);
    console.log(`Revoked ${n} token${n === 1 ? "" : "s"} of ${user.email}`);
    return 0;
  }
  printTokens(await service.listTokens(user));
  return 0;
}

function printTokens(tokens: readonly TokenInfo[]): void {
  const line = (cells: string[]) =>
    console.log(cells.map((cell, i) => (i < 4 ? cell.padEnd(WIDTHS[i]!) : cell)).join("  "));
  line(["ID", "NAME", "CREATED", "EXPIRES", "LAST USED"]);
  for (const token of tokens) {
    line([
      token.id,
      token.name,
      when(token.createdAt),
      when(token.expiresAt),
      when(token.lastUsedAt),
    ]);
  }
}

const WIDTHS = [12, 20, 20, 20];

function expiry(token: TokenInfo): string {
  return token.expiresAt ? `expires ${when(token.expiresAt)}` : "never expires";
}

function when(value: Date | null): string {
  return value ? value.toISOString().replace(/\.\d+Z$/, "Z") : "-";
}
