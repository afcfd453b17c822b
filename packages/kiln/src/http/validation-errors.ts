import { HttpError, isHttpError, KilnError } from "../errors.ts";
import { isHttpResponse } from "./http-response.ts";

export interface ValidationProblem {
  /** Where the problem is: `body.title`, `query.limit`, `params.id`. */
  path: string;
  message: string;
}

/** The part of the request a schema checks. */
export type RequestPart = "body" | "query" | "params";

/**
 * How a failed `body` / `query` / `params` schema is answered (endpoint option
 * `validationError`, or app-wide under `endpoints:` in kiln.yaml):
 * - `shape: "problems"` (the default): `{"error": "Invalid request body", "problems": [{path, message}]}`;
 * - `shape: "fields"`: `{"errors": {"title": ["Required"], "address.city": [...]}}`, keyed by
 *   the path inside the part (the part's name for a problem with the whole part);
 * - `status`: 400 by default (422 is common).
 * A function gets the problems and the part, and returns the answer: an HttpError or
 * HttpResponse, or a JSON body sent with status 400.
 * @example httpEndpoint("/tasks", { body: Task, validationError: { status: 422, shape: "fields" } }, ...)
 */
export type ValidationErrorOption =
  | { status?: number; shape?: "problems" | "fields" }
  | ((problems: ValidationProblem[], part: RequestPart) => unknown);

/** Builds the error to throw for failed validation, checking the option once (at start). */
export function validationAnswer(
  option: ValidationErrorOption | undefined,
  where: string,
): (problems: ValidationProblem[], part: RequestPart) => unknown {
  if (typeof option === "function") {
    return (problems, part) => {
      const answer = option(problems, part);
      return isHttpError(answer) || isHttpResponse(answer)
        ? answer
        : new HttpError(400, answer ?? {});
    };
  }
  const { status = 400, shape = "problems" } = checkOption(option, where);
  if (shape === "fields") {
    return (problems, part) => new HttpError(status, { errors: byField(problems, part) });
  }
  return (problems, part) => new HttpError(status, `Invalid request ${part}`, { problems });
}

function checkOption(
  option: ValidationErrorOption | undefined,
  where: string,
): { status?: number; shape?: "problems" | "fields" } {
  if (option === undefined || option === null) return {};
  const bad = (why: string) =>
    new KilnError("KILN_BAD_ENDPOINT", `${where}: validationError ${why}`);
  if (typeof option !== "object") throw bad("must be { status, shape } or a function");
  for (const key of Object.keys(option)) {
    if (key !== "status" && key !== "shape") throw bad(`has no setting "${key}" (status, shape)`);
  }
  const { status, shape } = option;
  if (status !== undefined && (!Number.isInteger(status) || status < 400 || status > 499)) {
    throw bad(`status must be a client error, 400..499 (got ${JSON.stringify(status)})`);
  }
  if (shape !== undefined && shape !== "problems" && shape !== "fields") {
    throw bad(`shape must be "problems" or "fields" (got ${JSON.stringify(shape)})`);
  }
  return option;
}

/** `{field: [messages]}`, the field being the path inside the part. */
function byField(problems: ValidationProblem[], part: RequestPart): Record<string, string[]> {
  const fields: Record<string, string[]> = {};
  for (const problem of problems) {
    const field = problem.path === part ? part : problem.path.slice(part.length + 1);
    // Own property only: a field named "__proto__" must not reach the prototype.
    if (!Object.hasOwn(fields, field)) {
      Object.defineProperty(fields, field, { value: [], enumerable: true, writable: true });
    }
    fields[field]!.push(problem.message);
  }
  return fields;
}
