import type { DestinationStream, Logger } from "pino";

/** Logs one answered request: its method, URL (the query is left out), status and duration. */
export type RequestLine = (method: string, url: string, status: number, elapsedMs: number) => void;

/**
 * The writer of the one log line per request, at level info, in the shape pino gives it:
 *
 *   {"level":30,"time":1764590000000,"method":"GET","path":"/_/api/hello","status":200,"ms":0.4,"msg":"request"}
 *
 * built by hand and written to `destination`, the stream the app logger writes to (so the lines
 * keep their order with the logger's). Its four fields are known and cannot hold a secret, so
 * none of pino's general machinery (serialising an object, redaction) is needed, and that
 * machinery was the larger part of what a small request paid for its line. The logger's level
 * is read on each line: `LOG_LEVEL=warn` (or a level changed at run time) turns the lines off.
 * Without a destination, the line goes through `log.info`.
 */
export function requestLine(log: Logger, destination?: DestinationStream): RequestLine {
  const info = log.levels.values.info ?? 30;
  if (!destination) {
    return (method, url, status, elapsed) =>
      log.info({ method, path: pathOf(url), status, ms: tenths(elapsed) }, "request");
  }
  return (method, url, status, elapsed) => {
    if (log.levelVal > info) return;
    destination.write(
      `{"level":${info},"time":${Date.now()},"method":${JSON.stringify(method)},"path":${JSON.stringify(pathOf(url))},"status":${status},"ms":${tenths(elapsed)},"msg":"request"}\n`,
    );
  };
}

function tenths(ms: number): number {
  return Math.round(ms * 10) / 10;
}

export function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}
