import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { type Command, parseCommandArgs, UsageError } from "./command.ts";

const HELP = `Usage: kiln new DIR

Creates a new Kiln app in DIR (which must not exist or be empty): kiln.yaml, a hello endpoint
in server/hello.ts, package.json and tsconfig.json. Then: cd DIR && npm install && npx kiln dev`;

export const newCommand: Command = {
  name: "new",
  summary: "create a new app folder",
  help: HELP,
  async run(argv) {
    const { positionals } = parseCommandArgs(argv, {});
    const target = positionals[0];
    if (!target) throw new UsageError("missing DIR: kiln new DIR");
    const dir = resolve(target);
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      console.error(`kiln new: ${target} already exists and is not empty; nothing was written`);
      return 1;
    }
    const name =
      basename(dir)
        .replace(/[^a-z0-9-]/gi, "-")
        .toLowerCase() || "kiln-app";
    mkdirSync(join(dir, "server"), { recursive: true });
    for (const [file, text] of Object.entries(scaffold(name))) {
      writeFileSync(join(dir, file), text);
    }
    console.log(`Created ${name} in ${dir}

Next:
  cd ${target}
  npm install
  npx kiln dev        # then: curl http://127.0.0.1:3000/_/api/hello`);
    return 0;
  },
};

function scaffold(name: string): Record<string, string> {
  return {
    "kiln.yaml": `name: ${name}

# Data tables: column types are text, number, bool, date, datetime, object, media,
# link <table>, links <table>.
tables:
  notes:
    text: text
    created: datetime
`,
    "server/hello.ts": `import { httpEndpoint } from "kilnjs";

httpEndpoint("/hello", () => ({ "the answer is": 42 }));

httpEndpoint("/hello/:name", ({ name }) => \`Hello, \${name}!\`);
`,
    "package.json": `${JSON.stringify(
      {
        name,
        private: true,
        type: "module",
        scripts: { start: "kiln start .", dev: "kiln dev ." },
        dependencies: { kilnjs: "^0.1.0" },
      },
      null,
      2,
    )}\n`,
    "tsconfig.json": `${JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          skipLibCheck: true,
        },
        include: ["server", "kiln-env.d.ts"],
      },
      null,
      2,
    )}\n`,
    ".gitignore": ".kiln/\nnode_modules/\n",
  };
}
