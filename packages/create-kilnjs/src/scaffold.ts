/**
 * The files of a new Kiln app, path → text. Both `npm create kilnjs` and `kiln new` write
 * exactly these, so a newcomer gets the same app whichever they ran.
 * @example scaffoldFiles("my-api", { kilnjs: "^0.2.0", typesNode: "^22.0.0" })["kiln.yaml"]
 */
export function scaffoldFiles(name: string, versions: ScaffoldVersions): Record<string, string> {
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
        scripts: {
          start: "kiln start .",
          dev: "kiln dev .",
          typecheck: "kiln types && tsc --noEmit",
        },
        dependencies: { kilnjs: versions.kilnjs },
        devDependencies: { "@types/node": versions.typesNode, typescript: TYPESCRIPT },
        // npm runs no install script of a package not listed here (when scripts are gated):
        // better-sqlite3 compiles its native binding when no prebuilt one fits, and esbuild
        // (under tsx, which loads the app's TypeScript) checks its binary.
        allowScripts: { "better-sqlite3": true, esbuild: true },
      },
      null,
      2,
    )}\n`,
    // Written as Biome (and Prettier) format it: short arrays on one line.
    "tsconfig.json": `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "lib": ["ES2023"],
    "types": ["node"],
    "strict": true,
    "noEmit": true,
    "allowImportingTsExtensions": true,
    "skipLibCheck": true
  },
  "include": ["server", "kiln-env.d.ts"]
}
`,
    ".gitignore": ".kiln/\nnode_modules/\n",
  };
}

/** The version ranges a new app depends on. */
export interface ScaffoldVersions {
  /** The `kilnjs` range, e.g. `^0.2.0`. */
  kilnjs: string;
  /** The `@types/node` range, e.g. `^22.0.0`. */
  typesNode: string;
}

/**
 * TypeScript minor versions may change what compiles, so apps pin the minor Kiln is tested with
 * (`tsc` against Kiln's declaration files, strict and without skipLibCheck).
 */
const TYPESCRIPT = "~5.9.3";

/** An npm package name from a folder name: lowercase letters, digits and dashes. */
export function appName(folderName: string): string {
  const name = folderName
    .replace(/[^a-z0-9-]/gi, "-")
    .toLowerCase()
    .replace(/^[-]+|[-]+$/g, "");
  return name || "kiln-app";
}
