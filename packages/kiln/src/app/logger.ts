import { fstatSync } from "node:fs";
import { isatty } from "node:tty";
import pino, { type DestinationStream, type Logger } from "pino";
import { LogBatch } from "./log-batch.ts";

export interface LoggerOptions {
  /** pino level; default `LOG_LEVEL` or "info" (see resolve-config.ts). */
  level?: string;
  /** Human-readable lines (dev); default JSON lines (production). */
  pretty?: boolean;
  /** Where JSON lines go; default standard output. */
  destination?: DestinationStream;
}

/** Paths that must never reach a log line, whatever a caller passes to the logger. */
const REDACT = [
  "password",
  "*.password",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.cookie",
  "secret",
  "*.secret",
];

/** What the deployment decides about logging (resolve-config.ts). */
export interface LogSettings {
  readonly level: string;
  readonly pretty: boolean;
  readonly colour: boolean;
}

/**
 * The app's logger, and the stream it writes its lines to: the request lines are written there
 * directly (see requestLine), in order with the logger's own lines.
 */
export interface AppLogger {
  readonly log: Logger;
  /** Where `log` writes; undefined for `logger: false` (a silent logger writes nowhere). */
  readonly destination: DestinationStream | undefined;
}

export function createLogger(
  options: LoggerOptions | false | undefined,
  settings: LogSettings = { level: "info", pretty: false, colour: true },
): AppLogger {
  if (options === false) return { log: pino({ level: "silent" }), destination: undefined };
  const level = options?.level ?? settings.level;
  const base = { level, redact: { paths: REDACT, censor: "[redacted]" }, base: undefined };
  const destination = options?.destination ?? defaultDestination(options, settings);
  return { log: pino(base, destination), destination };
}

/** Where the lines go when the app gives no destination: pino-pretty, or standard output. */
function defaultDestination(
  options: LoggerOptions | undefined,
  settings: LogSettings,
): DestinationStream {
  if (options?.pretty ?? settings.pretty) {
    // What pino's own `transport` option makes (pino-pretty in a worker thread), made here so
    // that its stream is at hand.
    return pino.transport({
      target: "pino-pretty",
      options: {
        colorize: wantsColour(settings.colour),
        ignore: "time",
        singleLine: true,
        messageFormat: "{msg}",
      },
    });
  }
  // Lines are gathered into writes of 4 KiB, or every 100 ms, whichever comes first: written
  // one at a time, each request's line cost a hand-off to libuv's thread pool (about 6% of a
  // hello-world request's CPU in a profile). What is left is written when the process exits.
  return new LogBatch(pino.destination({ sync: neverBlocks(1) }));
}

/**
 * True when writing to `fd` cannot wait on a reader: a regular file, or a character device
 * that is not a terminal (/dev/null). There a batch is written at once, on this thread: handing
 * it to libuv's thread pool costs more than the write itself. A pipe or a socket (docker,
 * systemd's journal) is written asynchronously, so that a log reader that falls behind slows
 * the logs, never the requests; so is a terminal (flow control can pause it).
 */
function neverBlocks(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFile() || (stat.isCharacterDevice() && !isatty(fd));
  } catch {
    return false;
  }
}

/**
 * Colour only for a person at a terminal: not when standard output goes to a file or a pipe
 * (escape codes would litter the log), nor when NO_COLOR is set to anything (no-color.org:
 * `colour` is false then).
 */
function wantsColour(colour: boolean): boolean {
  return process.stdout.isTTY === true && colour;
}
