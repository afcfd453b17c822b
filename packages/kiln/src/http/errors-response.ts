import { randomBytes } from "node:crypto";
import type { FastifyReply } from "fastify";
import type { Logger } from "pino";
import { isHttpError, isKilnError } from "../errors.ts";
import type { RequestContext } from "./context.ts";

export interface ErrorAnswer {
  status: number;
  /** A JSON value: Kiln's `{"error": ...}`, or an HttpError's own body. */
  body: unknown;
  headers?: Record<string, string>;
}

/** Puts `answer`'s status and headers on the request's answer; returns the body to send. */
export function errorResult(ctx: RequestContext, answer: ErrorAnswer): unknown {
  ctx.status = answer.status;
  if (answer.headers) Object.assign(ctx.responseHeaders, answer.headers);
  return answer.body;
}

/** Puts `answer`'s status and headers on `reply`; returns the body to send. */
export function applyErrorAnswer(reply: FastifyReply, answer: ErrorAnswer): unknown {
  reply.code(answer.status);
  if (answer.headers) reply.headers(answer.headers);
  return answer.body;
}

/**
 * Turns anything thrown during a request into an answer. HttpErrors and Fastify's own 4xx
 * errors (body too large, bad encoding) keep their status and message; a KilnError answers its
 * `status` (from the catalogue in errors.ts): a 4xx with its message, a 503 (the database is
 * down or overloaded) or 500 with only an id, while the full error (with stack) is logged under
 * that id, with the pipeline stage it came from. Anything else is a 500.
 */
export function errorAnswer(error: unknown, log: Logger, stage?: string): ErrorAnswer {
  if (isHttpError(error)) {
    if (error.body !== undefined) return { status: error.status, body: error.body };
    const details =
      error.details && typeof error.details === "object" ? (error.details as object) : {};
    return { status: error.status, body: { error: error.message, ...details } };
  }
  if (isKilnError(error) && error.status < 500) {
    // Caused by what the client sent (a title that is a number, a wrong password, a search box
    // holding a megabyte): the client's to fix, and the message says how.
    return { status: error.status, body: { error: error.message, ...error.details } };
  }
  if (isKilnError(error) && error.status === 503) {
    // Not the request's fault and not a bug: the database is down or overloaded (the only
    // 503s in the catalogue). 503 tells clients and load balancers to retry; the cause is
    // logged (under the id) for operators.
    const id = randomBytes(6).toString("hex");
    log.error({ err: error, errorId: id, stage }, "Database unavailable %s", id);
    return {
      status: 503,
      body: { error: "The database is unavailable; try again shortly", id },
      headers: { "retry-after": "1" },
    };
  }
  const status = (error as { statusCode?: unknown })?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return { status, body: { error: clientMessage(error as Error, status) } };
  }
  const id = randomBytes(6).toString("hex");
  log.error({ err: error, errorId: id, stage }, "Internal error %s", id);
  return { status: 500, body: { error: "Internal server error", id } };
}

function clientMessage(error: Error, status: number): string {
  if (status === 413) return "Request body is too large";
  const code = (error as { code?: string }).code;
  if (code === "FST_ERR_BAD_URL") return "Malformed URL (bad percent-encoding)";
  // Fastify's own message quotes the whole URL back: never reflect what the client sent.
  if (code === "FST_ERR_MAX_PARAM_LENGTH") return "URL is too long (a URL parameter is too long)";
  return error.message;
}
