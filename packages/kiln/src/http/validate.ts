import { HttpError } from "../errors.ts";
import type { StandardSchemaV1 } from "./standard-schema.ts";

export interface ValidationProblem {
  /** Where the problem is: `body.title`, `query.limit`, `params.id`. */
  path: string;
  message: string;
}

/**
 * Validates one part of the request against a Standard Schema; on failure throws a 400 that
 * lists every problem with its path, so a client can fix all of them in one go.
 */
export async function validatePart(
  part: "body" | "query" | "params",
  schema: StandardSchemaV1,
  value: unknown,
): Promise<unknown> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (!result.issues) return result.value;
  const problems: ValidationProblem[] = result.issues.map((issue) => ({
    path: [part, ...(issue.path ?? []).map(pathKey)].join("."),
    message: issue.message,
  }));
  throw new HttpError(400, `Invalid request ${part}`, { problems });
}

function pathKey(segment: PropertyKey | StandardSchemaV1.PathSegment): string {
  const key = typeof segment === "object" ? segment.key : segment;
  return String(key);
}
