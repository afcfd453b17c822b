import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { builtInTables } from "../app/built-in-tables.ts";
import { readKilnYaml } from "../app/config.ts";
import { generateTypes, TYPES_FILE } from "../tables/typegen.ts";
import { type Command, parseCommandArgs, UsageError } from "./command.ts";

const HELP = `Usage: kiln types [DIR] [--out FILE] [--app DIR]

Writes ${TYPES_FILE} in the app folder (default: the current folder) from kiln.yaml's tables,
so that in your editor \`tables.tasks\` rows have typed columns and a misspelled column is a
compile error. Include the file in tsconfig.json; run the command again after changing tables.

Options:
  --out FILE   write the declarations there instead of DIR/${TYPES_FILE}
  --app DIR    the app folder (same as the DIR argument)`;

export const typesCommand: Command = {
  name: "types",
  summary: `write ${TYPES_FILE}: TypeScript types for the app's tables`,
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      app: { type: "string" },
      out: { type: "string" },
    });
    if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`);
    const dir = resolve((values.app as string | undefined) ?? positionals[0] ?? ".");
    const yaml = readKilnYaml(resolve(dir, "kiln.yaml"));
    const out = resolve(dir, (values.out as string | undefined) ?? TYPES_FILE);
    writeFileSync(out, generateTypes(yaml.tables, builtInTables));
    console.error(`kiln types: wrote ${out}`);
    return 0;
  },
};
