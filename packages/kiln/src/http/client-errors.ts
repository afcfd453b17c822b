import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { ServerLimits } from "./server.ts";

/** What Node's HTTP parser hands to `clientError`: a code, and the bytes it choked on. */
interface ParserError extends Error {
  code?: string;
  reason?: string;
  /** A Buffer at run time (Fastify's types say otherwise). */
  rawPacket?: unknown;
}

/**
 * Answers requests Node refuses before they reach Fastify (malformed HTTP, headers or URL over
 * the size limit, a client too slow to send its request) with Kiln's own JSON error shape,
 * `{ "error": "..." }`, instead of Fastify's, and logs them: these are what hostile and broken
 * clients send, and an operator should see them.
 */
export function clientErrorHandler(limits: ServerLimits, log: Logger) {
  return (error: ParserError, socket: Socket): void => {
    // A reset connection has nobody left to answer.
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const { status, message } = describeClientError(error, limits);
    log.info({ status, code: error.code, remoteAddress: socket.remoteAddress }, "client error");
    if (socket.writable) {
      const body = JSON.stringify({ error: message });
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
          "Content-Type: application/json; charset=utf-8\r\n" +
          "X-Content-Type-Options: nosniff\r\n" +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

function describeClientError(
  error: ParserError,
  limits: ServerLimits,
): { status: number; message: string } {
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return {
      status: 408,
      message: `Request not received in time (headers within ${seconds(limits.headersTimeout)}, the whole request within ${seconds(limits.requestTimeout)})`,
    };
  }
  if (error.code === "HPE_HEADER_OVERFLOW") {
    const limit = `${Math.round(limits.maxHeaderSize / 1024)} KiB`;
    // Node counts the request line and the headers together; when the request line alone
    // takes most of the allowance, the URL is at fault (414), else the headers are (431).
    return requestLineLength(error.rawPacket) > limits.maxHeaderSize / 2
      ? {
          status: 414,
          message: `URL is too long (limit ${limit} for the request line and headers)`,
        }
      : { status: 431, message: `Request headers are too large (limit ${limit})` };
  }
  const reason = error.reason ? `: ${error.reason}` : "";
  return { status: 400, message: `Malformed HTTP request${reason}` };
}

/** Length of the request line in the packet Node choked on (0 when it does not start one). */
function requestLineLength(packet: unknown): number {
  if (!Buffer.isBuffer(packet) || !/^[A-Z]+ /.test(packet.subarray(0, 16).toString("latin1")))
    return 0;
  const end = packet.indexOf("\r\n");
  return end === -1 ? packet.length : end;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
