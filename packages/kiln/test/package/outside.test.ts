// Kiln as a user gets it: packed tarballs, installed into an app written by `npm create kilnjs`
// in an empty folder outside this repository, with no workspace link anywhere. Slow (npm
// install compiles better-sqlite3 when no prebuilt binary can be downloaded), so each Node.js
// version installs once and every check reuses that install.
//
// KILN_OUTSIDE_NODES lists the Node.js major versions to check (e.g. "20,22,24"; default: the
// one running the tests). Another version is installed from the registry (the node-<os>-<arch>
// package, which holds the headers better-sqlite3 compiles against) and put first on PATH, so
// npm, the install scripts and `kiln` all run on it.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO = resolve(import.meta.dirname, "../../../..");
const CURRENT = process.versions.node.split(".")[0] as string;
const NODES = (process.env.KILN_OUTSIDE_NODES || CURRENT).split(",").map((v) => v.trim());
const MINUTE = 60_000;

const work = mkdtempSync(join(tmpdir(), "kiln-outside-"));
// Removing the installs (a Node.js binary each, node_modules) takes minutes on a loaded machine.
afterAll(() => rm(work, { recursive: true, force: true }), 10 * MINUTE);

interface Run {
  code: number;
  output: string;
}

/** Runs a command to completion (never throws); its exit code and its stdout and stderr. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((done) => {
    execFile(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      done({ code, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * The environment of a user's shell: nothing from the npm script or Vitest that runs these
 * tests (npm_* settings, NODE_ENV=test, KILN_*), and `nodeDir`'s node first on PATH.
 */
function userEnv(nodeDir: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(npm_|KILN_|VITEST|NODE_ENV$|NODE_OPTIONS$|INIT_CWD$|PORT$|DATABASE_URL$)/i.test(name)) {
      env[name] = value;
    }
  }
  env.npm_config_update_notifier = "false";
  if (nodeDir) {
    env.PATH = `${join(nodeDir, "bin")}${delimiter}${env.PATH ?? ""}`;
    env.npm_config_nodedir = nodeDir; // node-gyp: compile against these headers, download none
  }
  return env;
}

/** Each Node.js version's app, being installed (started once the tarballs are packed). */
const installs = new Map<string, Promise<InstalledApp>>();

/** The tarballs of kilnjs and create-kilnjs, packed from the workspace as `npm publish` would. */
let tarballs: { kilnjs: string; createKilnjs: string; version: string };

beforeAll(async () => {
  const packs = join(work, "packs");
  mkdirSync(packs);
  // The global setup has just built dist/; --ignore-scripts skips building it again (prepack).
  const { code, output } = await run(
    "npm",
    [
      "pack",
      "--json",
      "--ignore-scripts",
      "--pack-destination",
      packs,
      "-w",
      "kilnjs",
      "-w",
      "create-kilnjs",
    ],
    REPO,
    userEnv(undefined),
  );
  expect(code, output).toBe(0);
  const manifests = JSON.parse(output.slice(output.indexOf("["))) as {
    name: string;
    version: string;
    filename: string;
    files: { path: string }[];
  }[];
  const kiln = manifests.find((m) => m.name === "kilnjs");
  const create = manifests.find((m) => m.name === "create-kilnjs");
  if (!kiln || !create) throw new Error(`npm pack made no kilnjs or create-kilnjs:\n${output}`);
  tarballs = {
    kilnjs: join(packs, kiln.filename),
    createKilnjs: join(packs, create.filename),
    version: kiln.version,
  };
  // What a user downloads: README, LICENSE, package.json, bin and the build; no sources, no tests.
  const tops = new Set(kiln.files.map((file) => file.path.split("/")[0]));
  expect([...tops].sort()).toEqual(["LICENSE", "README.md", "bin", "dist", "package.json"]);
  expect(kiln.files.map((f) => f.path)).toContain("dist/index.d.ts");
  expect(create.version).toBe(kiln.version);
  // Every version at once: most of an install is compiling better-sqlite3's one big C file, on
  // one core, so two versions take little longer than one. Each test awaits its own.
  for (const major of NODES) {
    const install = installApp(major);
    install.catch(() => {}); // reported by the tests that await it
    installs.set(major, install);
  }
}, 10 * MINUTE);

/** A scaffolded app with its dependencies installed, and the environment that runs its Node.js. */
interface InstalledApp {
  app: string;
  env: NodeJS.ProcessEnv;
}

/**
 * Installs Node.js `major` unless it is the one running, scaffolds an app with it and installs
 * the app's dependencies from the tarballs.
 */
async function installApp(major: string): Promise<InstalledApp> {
  const base = join(work, `node-${major}`);
  mkdirSync(base);
  const env = userEnv(major === CURRENT ? runningNodeDir() : await installNode(major, base));
  const node = await run("node", ["--version"], base, env);
  expect(node.output.trim()).toMatch(new RegExp(`^v${major}\\.`));

  // npm create kilnjs@latest my-api, with the packed create-kilnjs instead of the registry's.
  const folder = join(base, "empty");
  mkdirSync(folder);
  const created = await run(
    "npm",
    [
      "exec",
      "--yes",
      "--prefer-offline",
      `--package=${tarballs.createKilnjs}`,
      "--",
      "create-kilnjs",
      "my-api",
    ],
    folder,
    env,
  );
  expect(created.code, created.output).toBe(0);
  const app = join(folder, "my-api");
  for (let dir = app; dirname(dir) !== dir; dir = dirname(dir)) {
    expect(existsSync(join(dirname(dir), "node_modules")), `node_modules above ${app}`).toBe(false);
  }

  // The app asks for the published range; the packed version must satisfy it. Then the
  // dependency points at the tarball (and kilnjs's own create-kilnjs dependency at the other).
  const manifestFile = join(app, "package.json");
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
  const [vMajor, vMinor] = tarballs.version.split(".");
  expect(manifest.dependencies.kilnjs).toBe(`^${vMajor}.${vMinor}.0`);
  manifest.dependencies.kilnjs = `file:${tarballs.kilnjs}`;
  manifest.overrides = { "create-kilnjs": `file:${tarballs.createKilnjs}` };
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));

  const installed = await run(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund"],
    app,
    env,
  );
  expect(installed.code, installed.output).toBe(0);
  // The one engine warning a user sees: on Node.js 20, cookie@2 (Fastify's inject helper,
  // light-my-request, requires it) declares node >=22, being an ES module loaded by require(),
  // which Node.js does from 20.19 on, as kilnjs's engines demand. Harmless, and no other.
  const warned = [...installed.output.matchAll(/EBADENGINE\s+package: '([^']+)'/g)].map(
    (match) => match[1] as string,
  );
  expect(warned.filter((pkg) => Number(major) >= 22 || !pkg.startsWith("cookie@2."))).toEqual([]);
  const kilnjs = join(app, "node_modules", "kilnjs");
  expect(lstatSync(kilnjs).isSymbolicLink()).toBe(false);
  expect(existsSync(join(kilnjs, "src"))).toBe(false);

  // What a user adds: an endpoint that writes and reads the scaffold's `notes` table. The
  // typed reads compile only if `kiln types` typed the table; `(note: Row)` takes typed rows.
  writeFileSync(
    join(app, "server", "notes.ts"),
    `import { httpEndpoint, type Row, tables } from "kilnjs";

const view = (note: Row) => ({ id: note.id, text: note.text });

httpEndpoint("/notes", { methods: ["GET", "POST"] }, async ({ text }) => {
  if (text !== undefined) await tables.notes.addRow({ text, created: new Date() });
  const notes = await tables.notes.search({}, { orderBy: "created" }).toArray();
  const texts: (string | null)[] = notes.map((note) => note.text);
  return { texts, views: notes.map(view) };
});

httpEndpoint("/node", () => process.version);
`,
  );
  return { app, env };
}

describe.each(NODES)(
  "an app outside the workspace, on Node.js %s",
  { timeout: 10 * MINUTE },
  (major) => {
    let env: NodeJS.ProcessEnv;
    let app: string;

    beforeAll(async () => {
      ({ app, env } = await (installs.get(major) as Promise<InstalledApp>));
    }, 60 * MINUTE);

    it("npm start serves the hello endpoint and a table endpoint over HTTP, on this Node.js", async () => {
      const server = spawn("npm", ["start", "--", "--port", "0"], {
        cwd: app,
        env,
        detached: true, // its own process group: npm, the shell and kiln stop together
        stdio: ["ignore", "pipe", "pipe"],
      });
      try {
        const [, url] = await waitForOutput(server, /is serving at (http:\/\/\S+)/);
        const hello = await fetch(`${url}/hello`);
        expect(hello.status).toBe(200);
        expect(await hello.json()).toEqual({ "the answer is": 42 });
        expect(await (await fetch(`${url}/node`)).text()).toMatch(new RegExp(`^v${major}\\.`));

        const post = (text: string) =>
          fetch(`${url}/notes`, { method: "POST", body: new URLSearchParams({ text }) });
        expect((await post("first")).status).toBe(200);
        const second = await post("second");
        const body = (await second.json()) as { texts: string[]; views: { id: string }[] };
        expect(body.texts).toEqual(["first", "second"]);
        expect(body.views.map((view) => view.id)).toEqual(["[1,1]", "[1,2]"]);
      } finally {
        if (server.exitCode === null && server.signalCode === null && server.pid) {
          const exited = new Promise((done) => server.on("exit", done));
          process.kill(-server.pid, "SIGTERM");
          await exited;
        }
      }
    });

    it("npm run typecheck (kiln types, then tsc) passes, strict and without skipLibCheck", async () => {
      const tsconfigFile = join(app, "tsconfig.json");
      const tsconfig = readFileSync(tsconfigFile, "utf8");
      expect(tsconfig).toMatch(/"strict": true/);
      // Kiln's declaration files and its dependencies' are checked too.
      writeFileSync(
        tsconfigFile,
        tsconfig.replace(/"skipLibCheck": true/, '"skipLibCheck": false'),
      );
      const checked = await run("npm", ["run", "typecheck"], app, env);
      expect(checked.code, checked.output).toBe(0);
      expect(checked.output).toMatch(/kiln types: wrote .*kiln-env\.d\.ts/);
      expect(readFileSync(join(app, "kiln-env.d.ts"), "utf8")).toMatch(/notes: \{/);
    });
  },
);

/**
 * The folder of the Node.js running the tests, when it holds the headers native addons compile
 * against (a release tarball, the registry's node package, Debian's /usr). Without it, node-gyp
 * may compile better-sqlite3 against headers of another version found on the machine: under
 * `.ci/with-node 22`, the addon was built for the system's Node.js 20 and failed to load.
 */
function runningNodeDir(): string | undefined {
  const dir = dirname(dirname(process.execPath));
  return existsSync(join(dir, "include", "node", "common.gypi")) ? dir : undefined;
}

/** Installs Node.js `major` under `base` from the registry; its folder (bin/node, include/node). */
async function installNode(major: string, base: string): Promise<string> {
  const os = process.platform === "win32" ? "win" : process.platform;
  const name = `${os === "darwin" && process.arch === "arm64" ? "node-bin" : "node"}-${os}-${process.arch}`;
  const prefix = join(base, "node");
  mkdirSync(prefix);
  const installed = await run(
    "npm",
    [
      "install",
      "--prefix",
      prefix,
      "--no-save",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      `${name}@${major}`,
    ],
    base,
    userEnv(undefined),
  );
  expect(installed.code, installed.output).toBe(0);
  return join(prefix, "node_modules", name);
}

/** Resolves with the first match of `pattern` in the process's output; rejects if it exits. */
function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  let output = "";
  return new Promise((found, fail) => {
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(pattern);
      if (match) found(match);
    };
    child.stdout?.on("data", look);
    child.stderr?.on("data", look);
    child.on("exit", (code) =>
      fail(new Error(`exited with ${code} before ${pattern}:\n${output}`)),
    );
  });
}
