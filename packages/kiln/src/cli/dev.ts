import { type ChildProcess, fork } from "node:child_process";
import { existsSync, type FSWatcher, readdirSync, statSync, watch } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Env, resolveConfig } from "../app/resolve-config.ts";
import { KilnError } from "../errors.ts";
import { APP_OPTIONS, type Command, intOption, parseCommandArgs } from "./command.ts";

const HELP = `Usage: kiln dev [DIR] [--port N] [--host H] [--data PATH] [--app DIR]

Serves the app in DIR (default: the current folder) and reloads it when kiln.yaml or a file
under server/ changes. A version that fails to load is reported and the previous one keeps
serving. Log lines are human-readable.

Options: as for "kiln start".`;

const BIN = join(dirname(fileURLToPath(import.meta.url)), "../../bin/kiln.js");

export const devCommand: Command = {
  name: "dev",
  summary: "serve an app folder and reload it on change",
  help: HELP,
  async run(argv, env) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...APP_OPTIONS,
      port: { type: "string", short: "p" },
      host: { type: "string" },
    });
    const dir = resolve((values.app as string) ?? positionals[0] ?? ".");
    // The same errors (and exit code 1) as `kiln start`, before any child process is started.
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new KilnError("KILN_APP_NOT_FOUND", `App folder not found: ${dir}`);
    }
    if (!existsSync(join(dir, "kiln.yaml"))) {
      throw new KilnError(
        "KILN_APP_NOT_FOUND",
        `No kiln.yaml at ${join(dir, "kiln.yaml")} (create an app with "kiln new DIR")`,
      );
    }
    const port = intOption(values.port, "port") ?? resolveConfig({ env }).port;
    const childArgs = ["start", dir, "--port", String(port)];
    if (values.host) childArgs.push("--host", values.host as string);
    if (values.data) childArgs.push("--data", resolve(values.data as string));
    return supervise(dir, childArgs, env);
  },
};

/**
 * Runs the app in a child process; on a change, starts the new version beside the old one and
 * swaps only once the new one has loaded (so a syntax error never takes the API down).
 */
function supervise(dir: string, childArgs: string[], env: Env): Promise<number> {
  let serving: ChildProcess | null = null;
  let loading: ChildProcess | null = null;
  let pending = false;
  let finish: (code: number) => void = () => undefined;

  const spawnVersion = () => {
    if (loading) {
      pending = true;
      return;
    }
    const child = fork(BIN, childArgs, {
      env: { ...env, KILN_DEV_CHILD: "1", KILN_LOG_PRETTY: "1" },
      stdio: ["inherit", "inherit", "pipe", "ipc"],
    });
    loading = child;
    let errors = "";
    let reason: string | undefined;
    child.stderr?.on("data", (chunk: Buffer) => {
      if (child === loading) errors += chunk.toString(); // the reason, should loading fail
      process.stderr.write(chunk);
    });
    child.on(
      "message",
      async (message: {
        type?: string;
        url?: string;
        prefix?: string;
        reason?: string;
        error?: string;
      }) => {
        if (message.type === "loaded") {
          const old = serving;
          serving = child;
          loading = null;
          if (old) await stopChild(old); // frees the port for the new version
          child.send({ type: "listen" });
        } else if (message.type === "listening") {
          console.error(
            `kiln dev: serving at ${message.url}${message.prefix ?? ""} (watching ${dir})`,
          );
          if (pending) {
            pending = false;
            spawnVersion();
          }
        } else if (message.type === "failed") {
          reason = message.reason;
        } else if (message.type === "fatal") {
          // The port is taken by another program: waiting for a change would not free it.
          console.error(`kiln dev: ${message.error}`);
          void stop(1);
        }
      },
    );
    child.on("exit", (code) => {
      if (child === loading) {
        loading = null;
        if (stopping) return;
        const why = reason ?? errors.trim().split("\n").pop() ?? `exit code ${code}`;
        console.error(
          serving
            ? `kiln dev: reload failed (${why}); still serving the previous version`
            : `kiln dev: the app failed to start (${why}); waiting for a change`,
        );
        if (pending) {
          pending = false;
          spawnVersion();
        }
      } else if (child === serving) {
        serving = null;
        if (!stopping) console.error(`kiln dev: the app exited (${code}); waiting for a change`);
      }
    });
  };

  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  const stopWatching = watchApp(dir, (name) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      console.error(`kiln dev: ${name} changed, reloading`);
      spawnVersion();
    }, 100);
  });
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    clearTimeout(timer);
    stopWatching();
    await Promise.all([serving, loading].filter((c) => c !== null).map(stopChild));
    finish(code);
  };
  process.once("SIGTERM", () => stop(0));
  process.once("SIGINT", () => stop(0));
  spawnVersion();
  return new Promise((done) => {
    finish = done;
  });
}

/** Files whose change reloads the app: modules (and JSON they may import), not editor litter. */
const RELOADS = /\.(ts|mts|cts|js|mjs|cjs|json)$/;

/**
 * Calls `onChange` when kiln.yaml or something under server/ changes. Each folder is watched
 * on its own, not each file: an editor that saves by writing a new file and renaming it over
 * the old one (vim, JetBrains, `sed -i`) replaces the file, and a watch on the old file would
 * never fire again, while the folder stays the same. Only the app folder itself (for
 * kiln.yaml) and the folders under server/ are watched: a recursive watch of the whole app
 * would take in node_modules/ and the data folder, and on Linux Node 20 implements a recursive
 * watch by watching every file in the tree.
 */
function watchApp(dir: string, onChange: (file: string) => void): () => void {
  const serverDir = join(dir, "server");
  const watchers = new Map<string, FSWatcher>();
  /** Watches every folder under server/ that is not watched yet; forgets those now gone. */
  const arm = () => {
    const folders = new Set(existsSync(serverDir) ? foldersUnder(serverDir) : []);
    for (const [folder, watcher] of watchers) {
      if (!folders.has(folder)) {
        watcher.close();
        watchers.delete(folder);
      }
    }
    for (const folder of folders) {
      if (watchers.has(folder)) continue;
      try {
        const watcher = watch(folder, (_event, file) => onServerEvent(folder, String(file ?? "")));
        watcher.on("error", () => arm()); // the folder went away: forget it
        watchers.set(folder, watcher);
      } catch {
        // Removed between listing and watching: the event for its removal reloads anyway.
      }
    }
  };
  const onServerEvent = (folder: string, name: string) => {
    const path = join(folder, name);
    const file = relative(dir, path);
    if (RELOADS.test(name)) return onChange(file);
    // A folder created, renamed or removed (not a vim probe file such as "4913").
    if (watchers.has(path) || isFolder(path)) {
      arm();
      onChange(file);
    }
  };
  const top = watch(dir, (_event, file) => {
    if (file === "kiln.yaml") onChange(file);
    else if (file === "server") {
      arm(); // server/ itself was created, replaced or removed
      onChange(file);
    }
  });
  arm();
  return () => {
    top.close();
    for (const watcher of watchers.values()) watcher.close();
    watchers.clear();
  };
}

/** `root` and every folder below it, node_modules left out. */
function foldersUnder(root: string): string[] {
  const found = [root];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.isDirectory() && entry.name !== "node_modules") {
      found.push(...foldersUnder(join(root, entry.name)));
    }
  }
  return found;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((stopped) => {
    if (child.exitCode !== null || child.signalCode !== null) return stopped();
    child.once("exit", () => stopped());
    child.kill("SIGTERM");
  });
}
