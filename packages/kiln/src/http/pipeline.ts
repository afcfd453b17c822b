import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { KilnError } from "../errors.ts";
import { arrivedAt } from "./arrival.ts";
import { decodeBody } from "./body.ts";
import type { RequestContext } from "./context.ts";
import type { EndpointDefinition } from "./endpoint.ts";
import { errorAnswer, errorResult } from "./errors-response.ts";
import { globalState } from "./global-state.ts";
import { isHttpResponse } from "./http-response.ts";
import { mergeParams } from "./params.ts";
import { FastifyContext } from "./request-context.ts";
import { sendResult } from "./respond.ts";
import {
  checkStageInputs,
  isPromise,
  type PipelineFeature,
  runStages,
  type Stage,
  stageOf,
} from "./stages.ts";
import { validatePart } from "./validate.ts";
import { validationAnswer } from "./validation-errors.ts";

export type { PipelineFeature, Stage } from "./stages.ts";

export interface PipelineOptions {
  app: unknown;
  /**
   * Makes the handler's second argument from the request and its validated parts (the app's
   * typed context; see app/handler-context.ts). Without it, the handler gets `{ body }`.
   */
  context?: ContextFactory;
  /**
   * Whether each request runs inside AsyncLocalStorage, where the importable `request`,
   * `session`, `users`... find it (default true). Off, the handler's context is the only way
   * to the request: nothing pays for async hooks (see AppConfig.requestViews).
   */
  requestViews?: boolean;
  features: readonly PipelineFeature[];
  log: Logger;
  /** Writes the request's log line; called once the answer is sent. */
  logRequest?: (req: FastifyRequest, reply: FastifyReply) => void;
  /**
   * `since` is set (performance.now()) once the server is closing: requests that arrive after
   * it are refused, those that arrived before are served (see server.ts).
   */
  drain?: { since: number };
}

/** Makes a handler's second argument: the request, its body, keyword and URL parameters. */
export type ContextFactory = (
  ctx: RequestContext,
  body: unknown,
  query: unknown,
  params: unknown,
) => unknown;

const bodyOnly: ContextFactory = (_ctx, body) => ({ body });

/**
 * Builds the request handler of one endpoint. Read top to bottom, this is the life of a
 * request (routing and limits are Fastify's, see server.ts; the log line is written once the
 * answer is sent):
 *
 *   body → feature stages (cookies.session, users.authenticate) → assert-user → handler
 *   → after-stages (cors, cookies.save) → convert the result and send it
 *
 * A thrown error skips to the after-stages with an error answer as the result. The list of
 * stages is settled here, once per endpoint, so a feature an endpoint does not use costs
 * nothing, and a stage that needs another's output is checked to come after it.
 */
export function compileEndpoint(endpoint: EndpointDefinition, options: PipelineOptions) {
  const stages: Stage[] = [
    parseBody,
    ...collect(options.features, (f) => f.beforeHandler?.(endpoint)),
    ...(endpoint.options.authenticateUsers ? [assertUser] : []),
    compileHandlerStage(endpoint, options.context ?? bodyOnly),
  ];
  const after = collect(options.features, (f) => f.afterHandler?.(endpoint));
  checkStageInputs(endpoint, [...stages, ...after]);
  const catchAll = catchAllName(endpoint.path);
  const { log } = options;
  const logRequest = options.logRequest ?? (() => undefined);
  const send = (ctx: FastifyContext): void => {
    sendResult(ctx);
    logRequest(ctx.req, ctx.reply);
  };

  const finish = (ctx: FastifyContext): void | Promise<void> => {
    const pending = after.length === 0 ? undefined : runStages(after, ctx, 0);
    if (pending) return pending.then(() => send(ctx));
    send(ctx);
  };
  const fail = (ctx: FastifyContext, error: unknown): void | Promise<void> => {
    // A thrown HttpResponse is the answer itself, as if it had been returned.
    ctx.result = isHttpResponse(error)
      ? error
      : errorResult(ctx, errorAnswer(error, log, stageOf(error)));
    return finish(ctx);
  };
  const run = (ctx: FastifyContext): void | Promise<void> => {
    let pending: void | Promise<void>;
    try {
      pending = runStages(stages, ctx, 0);
    } catch (error) {
      return fail(ctx, error);
    }
    if (pending)
      return pending.then(
        () => finish(ctx),
        (error: unknown) => fail(ctx, error),
      );
    return finish(ctx);
  };

  // Fastify takes `undefined` (answered synchronously) or a promise of `undefined`.
  const drain = options.drain ?? { since: 0 };
  const { app } = options;
  const als = options.requestViews === false ? null : globalState.als;
  return function handle(req: FastifyRequest, reply: FastifyReply): void | Promise<void> {
    if (drain.since > 0 && arrivedAfter(req, drain.since)) {
      refuseWhileClosing(reply);
      return logRequest(req, reply);
    }
    const ctx = new FastifyContext(req, reply, endpoint, app, log, catchAll);
    return als ? als.run(ctx, run, ctx) : run(ctx);
  };
}

/**
 * Whether the request arrived at `since` or later. The handler runs only once the body is in:
 * a request that arrived before the close began (its body still arriving) is in flight, and is
 * served. A request with no arrival time (injected, no socket) is served rather than refused.
 */
function arrivedAfter(req: FastifyRequest, since: number): boolean {
  const at = arrivedAt(req);
  return at !== undefined && at >= since;
}

/**
 * A request that arrives on an open connection while the server drains: 503 in Kiln's shape
 * (Fastify's own answer would be its `{statusCode, message}` body), and the connection closes.
 */
function refuseWhileClosing(reply: FastifyReply): void {
  reply
    .code(503)
    .header("connection", "close")
    .header("retry-after", "1")
    .header("x-content-type-options", "nosniff")
    .send({ error: "The server is shutting down; retry on a new connection" });
}

/**
 * Stage "assert-user", only on `authenticateUsers` endpoints, just before the handler: the
 * authenticate stage answers 401 when nobody is logged in, so reaching here without a user is
 * a bug in Kiln (a stage left out, state kept where this copy of kiln does not look). Failing
 * closed, a 500 with the cause logged, beats a handler that saves rows with no owner or lists
 * everybody's.
 */
const assertUser: Stage<void> = {
  name: "assert-user",
  run(ctx) {
    if (ctx.user === null || ctx.user === undefined) {
      throw new KilnError(
        "KILN_NO_USER",
        `The authenticateUsers endpoint ${ctx.endpoint.path} was reached without a user: refused`,
      );
    }
  },
};

/** Stage "body": see body.ts. */
const parseBody: Stage<void> = {
  name: "body",
  run: (ctx) => decodeBody(ctx, (ctx as FastifyContext).req.body as Buffer | undefined),
};

/**
 * Stage "validate + handler": calls the handler with the merged keyword parameters and the
 * JSON body (validated first when the endpoint declares schemas) and keeps what it returns.
 */
function compileHandlerStage(endpoint: EndpointDefinition, context: ContextFactory): Stage<void> {
  const { handler } = endpoint;
  const validate = compileValidation(endpoint);
  if (validate) {
    return {
      name: "handler",
      async run(ctx) {
        const input = await validate(ctx, mergeParams(ctx));
        const second = context(ctx, input.body, input.query, input.urlParams);
        ctx.result = await handler(input.params, second);
      },
    };
  }
  return {
    name: "handler",
    run(ctx) {
      const params = mergeParams(ctx);
      const result = handler(params, context(ctx, ctx.bodyJson, params, ctx.urlParams));
      if (!isPromise(result)) {
        ctx.result = result;
        return;
      }
      return result.then((value) => {
        ctx.result = value;
      });
    },
  };
}

/** The validated parts: the handler's first argument, and the parts of its context. */
interface ValidInput {
  params: Record<string, unknown>;
  body: unknown;
  query: unknown;
  urlParams: unknown;
}

type Validator = (ctx: RequestContext, params: Record<string, string>) => Promise<ValidInput>;

/** Validation stage, built only for endpoints that declare schemas. */
function compileValidation(endpoint: EndpointDefinition): Validator | null {
  const { body, query, params, validationError } = endpoint.options;
  if (!body && !query && !params) return null;
  const answer = validationAnswer(validationError, `Endpoint ${endpoint.path}`);
  return async (ctx, merged) => {
    let values: Record<string, unknown> = merged;
    let validQuery: unknown = merged;
    let validUrl: unknown = ctx.urlParams;
    if (query) {
      // The query schema sees every keyword parameter; URL parameters survive a schema that
      // strips unknown keys.
      validQuery = await validatePart("query", query, merged, answer);
      values = { ...ctx.urlParams, ...(validQuery as object) };
    }
    if (params) {
      validUrl = await validatePart("params", params, ctx.urlParams, answer);
      values = { ...values, ...(validUrl as object) };
    }
    const validBody = body ? await validatePart("body", body, ctx.bodyJson, answer) : ctx.bodyJson;
    return { params: values, body: validBody, query: validQuery, urlParams: validUrl };
  };
}

/** `/files/:rest*` names its catch-all `rest`; Fastify calls it `*`. */
export function catchAllName(path: string): string | null {
  const match = /\/:([A-Za-z_$][\w$]*)\*$/.exec(path);
  return match?.[1] ?? null;
}

function collect(
  features: readonly PipelineFeature[],
  pick: (feature: PipelineFeature) => Stage | null | undefined,
): Stage[] {
  return features.map(pick).filter((stage): stage is Stage => !!stage);
}
