import { KilnError } from "../errors.ts";
import type { RequestContext, Slot } from "./context.ts";
import type { EndpointDefinition } from "./endpoint.ts";

/**
 * A named step of the request pipeline. Its input is the request (and the slots it `needs`,
 * read with `ctx.get`); its output, when it declares a slot, is what `run` returns, stored
 * there by the pipeline for the stages after it. It may throw an HttpError to answer at once.
 *
 * `run` returns a promise only when it has something to wait for: the pipeline runs
 * synchronously for as long as its stages do (see `runStages`), which is most of the cost of a
 * small request.
 */
export interface Stage<T = unknown> {
  /** Shown in errors and in the log line of a failure: "users.authenticate". */
  readonly name: string;
  /** Slots this stage reads: each must be the output of an earlier stage of the endpoint. */
  readonly needs?: readonly Slot<unknown>[];
  /** Where the pipeline stores what `run` returns (or resolves to); undefined stores nothing. */
  readonly output?: Slot<T>;
  run(ctx: RequestContext): T | Promise<T>;
}

/**
 * An optional capability (CORS, session and XSRF, user authentication) that takes part in
 * requests. Each method is asked once, when an endpoint is registered, and returns the stage
 * that endpoint needs, or null: an endpoint that does not use a feature pays nothing.
 */
export interface PipelineFeature {
  readonly name: string;
  /** Runs before the handler, in feature order (session/XSRF → authenticate). */
  beforeHandler?(endpoint: EndpointDefinition): Stage | null;
  /** Runs after the handler (and after a handler error), before the response is sent. */
  afterHandler?(endpoint: EndpointDefinition): Stage | null;
}

/**
 * Checks, once per endpoint, that every slot a stage needs is the output of a stage before it:
 * a feature missing or out of order is an error when the app starts, naming both, not a
 * value silently absent on some request.
 */
export function checkStageInputs(endpoint: EndpointDefinition, stages: readonly Stage[]): void {
  const produced = new Map<string, string>();
  for (const stage of stages) {
    for (const need of stage.needs ?? []) {
      if (produced.has(need.key)) continue;
      throw new KilnError(
        "KILN_BAD_ENDPOINT",
        `Endpoint ${endpoint.path}: stage "${stage.name}" needs "${need.key}", which no stage before it produces (stages: ${stages.map((s) => s.name).join(" → ")})`,
      );
    }
    if (stage.output) produced.set(stage.output.key, stage.name);
  }
}

/** The stage an error was thrown from, for the log line of a 500. */
const failedIn = new WeakMap<object, string>();

export function stageOf(error: unknown): string | undefined {
  return typeof error === "object" && error !== null ? failedIn.get(error) : undefined;
}

function note(error: unknown, stage: Stage): unknown {
  if (typeof error === "object" && error !== null && !failedIn.has(error)) {
    failedIn.set(error, stage.name);
  }
  return error;
}

/**
 * Runs `stages` in order from `from`: synchronously while they return no promise, then
 * through the promise of the first one that has something to wait for.
 */
export function runStages(
  stages: readonly Stage[],
  ctx: RequestContext,
  from: number,
): void | Promise<void> {
  for (let i = from; i < stages.length; i++) {
    const stage = stages[i] as Stage;
    let out: unknown;
    try {
      out = stage.run(ctx);
    } catch (error) {
      throw note(error, stage);
    }
    if (isPromise(out)) {
      return out.then(
        (value) => {
          if (stage.output && value !== undefined) ctx.set(stage.output, value);
          return runStages(stages, ctx, i + 1);
        },
        (error: unknown) => {
          throw note(error, stage);
        },
      );
    }
    if (stage.output && out !== undefined) ctx.set(stage.output, out);
  }
}

export function isPromise(value: unknown): value is Promise<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
