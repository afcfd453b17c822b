import { type ChildProcess, fork } from "node:child_process";
import { existsSync, watch } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { APP_OPTIONS, type Command, intOption, parseCommandArgs, UsageError } from "./command.ts";

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
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...APP_OPTIONS,
      port: { type: "string", short: "p" },
      host: { type: "string" },
    });
    const dir = resolve((values.app as string) ?? positionals[0] ?? ".");
    if (!existsSync(join(dir, "kiln.yaml"))) {
      throw new UsageError(`no kiln.yaml in ${dir} (create an app with "kiln new DIR")`);
    }
    const port = intOption(values.port, "port") ?? intOption(process.env.PORT, "port") ?? 3000;
    const childArgs = ["start", dir, "--port", String(port)];
    if (values.host) childArgs.push("--host", values.host as string);
    if (values.data) childArgs.push("--data", resolve(values.data as string));
    return supervise(dir, childArgs);
  },
};

/**
 * Runs the app in a child process; on a change, starts the new version beside the old one and
 * swaps only once the new one has loaded (so a syntax error never takes the API down).
 */
function supervise(dir: string, childArgs: string[]): Promise<number> {
  let serving: ChildProcess | null = null;
  let loading: ChildProcess | null = null;
  let pending = false;

  const spawnVersion = () => {
    if (loading) {
      pending = true;
      return;
    }
    const child = fork(BIN, childArgs, {
      env: { ...process.env, KILN_DEV_CHILD: "1", KILN_LOG_PRETTY: "1" },
      stdio: ["inherit", "inherit", "pipe", "ipc"],
    });
    loading = child;
    let errors = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      errors += chunk.toString();
      process.stderr.write(chunk);
    });
    child.on("message", async (message: { type?: string; url?: string }) => {
      if (message.type === "loaded") {
        const old = serving;
        if (old) await stopChild(old);
        serving = child;
        loading = null;
        child.send({ type: "listen" });
      } else if (message.type === "listening") {
        console.error(`kiln dev: serving at ${message.url} (watching ${dir})`);
        if (pending) {
          pending = false;
          spawnVersion();
        }
      }
    });
    child.on("exit", (code) => {
      if (child === loading) {
        loading = null;
        const reason = errors.trim().split("\n").pop() ?? `exit code ${code}`;
        console.error(
          serving
            ? `kiln dev: reload failed (${reason}); still serving the previous version`
            : `kiln dev: the app failed to start (${reason}); waiting for a change`,
        );
        if (pending) {
          pending = false;
          spawnVersion();
        }
      } else if (child === serving) {
        serving = null;
      }
    });
  };

  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dir, { recursive: true }, (_event, file) => {
    const name = String(file ?? "");
    if (!(name === "kiln.yaml" || name.startsWith("server"))) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      console.error(`kiln dev: ${name} changed, reloading`);
      spawnVersion();
    }, 100);
  });
  spawnVersion();

  return new Promise((done) => {
    const stop = async () => {
      watcher.close();
      await Promise.all([serving, loading].filter((c) => c !== null).map(stopChild));
      done(0);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((stopped) => {
    if (child.exitCode !== null || child.signalCode !== null) return stopped();
    child.once("exit", () => stopped());
    child.kill("SIGTERM");
  });
}
