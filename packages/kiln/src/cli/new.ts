import { writeNewApp } from "create-kilnjs";
import { type Command, parseCommandArgs, UsageError } from "./command.ts";

const HELP = `Usage: kiln new DIR

Creates a new Kiln app in DIR (which must not exist or be empty): kiln.yaml, a hello endpoint
in server/hello.ts, package.json and tsconfig.json. Then: cd DIR && npm install && npm run dev
(the same app as \`npm create kilnjs@latest DIR\`).`;

export const newCommand: Command = {
  name: "new",
  summary: "create a new app folder",
  help: HELP,
  async run(argv) {
    const { positionals } = parseCommandArgs(argv, {});
    const target = positionals[0];
    if (!target) throw new UsageError("missing DIR: kiln new DIR");
    if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`);
    return writeNewApp(target, "kiln new");
  },
};
