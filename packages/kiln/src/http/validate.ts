import type { StandardSchemaV1 } from "./standard-schema.ts";
import { type RequestPart, type ValidationProblem, validationAnswer } from "./validation-errors.ts";

export type { ValidationProblem } from "./validation-errors.ts";

const DEFAULT_ANSWER = validationAnswer(undefined, "");

/**
 * Validates one part of the request against a Standard Schema; on failure throws what
 * `answer` makes of every problem with its path (by default a 400 listing them all), so a
 * client can fix all of them in one go.
 */
export async function validatePart(
  part: RequestPart,
  schema: StandardSchemaV1,
  value: unknown,
  answer = DEFAULT_ANSWER,
): Promise<unknown> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (!result.issues) return result.value;
  const problems: ValidationProblem[] = result.issues.map((issue) => ({
    path: [part, ...(issue.path ?? []).map(pathKey)].join("."),
    message: issue.message,
  }));
  throw answer(problems, part);
}

function pathKey(segment: PropertyKey | StandardSchemaV1.PathSegment): string {
  const key = typeof segment === "object" ? segment.key : segment;
  return String(key);
}
