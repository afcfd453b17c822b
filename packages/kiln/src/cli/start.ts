import { resolve } from "node:path";
import type { KilnApp } from "../app/create-app.ts";
import { loadApp } from "../app/load-app.ts";
import { resolveConfig } from "../app/resolve-config.ts";
import { KilnError } from "../errors.ts";
import { APP_OPTIONS, type Command, intOption, parseCommandArgs } from "./command.ts";
import { isWorker, runPrimary, workerCount } from "./workers.ts";

const HELP = `Usage: kiln start [DIR] [--port N] [--host H] [--workers N|auto] [--data PATH] [--app DIR]

Serves the app in DIR (default: the current folder) in production mode: JSON log lines, one
per request. SIGTERM or Ctrl-C finishes in-flight requests, then exits 0.

Options:
  --port N      port to listen on (default $PORT or 3000; 0 picks a free one)
  --host H      address to bind (default 127.0.0.1; 0.0.0.0 for every interface)
  --workers N   worker processes sharing the port (default 1; "auto" = one per CPU); a worker
                that dies is replaced, SIGTERM stops them all gracefully
  --data PATH   data folder: SQLite database and secret key (default $KILN_DATA or DIR/.kiln)
  --app DIR     the app folder (same as the DIR argument)`;

export const startCommand: Command = {
  name: "start",
  summary: "serve an app folder (production)",
  help: HELP,
  async run(argv, env) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...APP_OPTIONS,
      port: { type: "string", short: "p" },
      host: { type: "string" },
      workers: { type: "string", short: "w" },
    });
    const workers = workerCount(values.workers);
    const dir = resolve((values.app as string) ?? positionals[0] ?? ".");
    const flagPort = intOption(values.port, "port");
    const host = (values.host as string) ?? "127.0.0.1";
    // What the app resolves again with kiln.yaml (the same environment, so the same answers);
    // needed before it loads, to report a failed load to kiln dev.
    const devChild = resolveConfig({ env }).devChild && typeof process.send === "function";
    let app: KilnApp;
    try {
      app = await loadApp(dir, {
        ...(values.data ? { dataDir: resolve(values.data as string) } : {}),
        ...(flagPort === undefined ? {} : { port: flagPort }),
        // kiln dev's server answers only its own names (DNS rebinding; see hostAllowed).
        ...(devChild ? { onlyHost: host } : {}),
        env,
      });
      await app.ready();
    } catch (error) {
      if (!devChild) throw error;
      // kiln dev reports it once, under its own name, with what it does next.
      process.send?.({ type: "failed", reason: failureReason(error) });
      return 1;
    }
    if (workers > 1 && !isWorker()) {
      // The primary loaded the app once to report a bad kiln.yaml or module (and migrate the
      // database) a single time, instead of N crash-looping workers; then it only supervises.
      await app.close();
      return runPrimary(workers, app);
    }
    if (devChild) await waitForGoAhead();
    const port = app.settings.port;
    let url: string;
    try {
      url = await app.listen({ port, host });
    } catch (error) {
      await app.close();
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        const message = `port ${port} is already in use (choose another with --port)`;
        if (isWorker() || devChild) process.send?.({ type: "fatal", error: message });
        else console.error(`kiln start: ${message}`);
        return 1;
      }
      throw error;
    }
    // The signal handlers go in before the URL is announced: whoever reads the announcement
    // may send SIGTERM at once, and without a handler Node would die instead of draining.
    const stopped = new Promise<number>((done) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        // A worker often gets the signal twice: once with its whole process group (Ctrl-C,
        // systemd's control-group stop) and once forwarded by the primary. It keeps draining
        // through the second (the primary, not the signal, decides when it must die). A single
        // process drops its handlers, so a second Ctrl-C stops it at once, as users expect.
        if (!isWorker()) {
          process.off("SIGTERM", stop);
          process.off("SIGINT", stop);
        }
        app.log.info({ signal }, "Stopping: finishing in-flight requests");
        app.close().then(
          () => done(0),
          (error) => {
            console.error(`kiln start: error while stopping: ${(error as Error).message}`);
            done(1);
          },
        );
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
    });
    app.log.info({ url, app: app.name }, `Kiln app "${app.name}" serving at ${url}`);
    if (!devChild && !isWorker()) {
      console.error(`kiln: ${app.name} is serving at ${url}${app.prefix}`);
    }
    process.send?.({ type: "listening", url, prefix: app.prefix });
    return stopped;
  },
};

/**
 * The reason for kiln dev, on one line: a Kiln error's message (it names the file and line;
 * esbuild's spans lines); anything else is unexpected, so its stack goes to stderr as well.
 */
function failureReason(error: unknown): string {
  if (!(error instanceof KilnError)) console.error((error as Error)?.stack ?? String(error));
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, " ").trim();
}

/** In `kiln dev`, the new version loads while the old one serves; it listens when told to. */
function waitForGoAhead(): Promise<void> {
  return new Promise((go) => {
    process.send?.({ type: "loaded" });
    const onMessage = (message: { type?: string }) => {
      if (message?.type === "listen") {
        process.off("message", onMessage);
        go();
      }
    };
    process.on("message", onMessage);
  });
}
