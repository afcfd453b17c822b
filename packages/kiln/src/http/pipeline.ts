import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { KilnError } from "../errors.ts";
import { decodeBody } from "./body.ts";
import type { RequestContext } from "./context.ts";
import type { EndpointDefinition } from "./endpoint.ts";
import { applyErrorAnswer, errorAnswer } from "./errors-response.ts";
import { globalState } from "./global-state.ts";
import { isHttpResponse } from "./http-response.ts";
import { flattenQuery, mergeParams, paramRecord } from "./params.ts";
import { sendResult } from "./respond.ts";
import { validatePart } from "./validate.ts";
import { validationAnswer } from "./validation-errors.ts";

/**
 * A step of the request pipeline; it may fill in the context, or throw an HttpError. A stage
 * returns a promise only when it has something to wait for: the pipeline runs synchronously
 * for as long as its stages do (see `runStages`), which is most of the cost of a small request.
 */
export type Stage = (ctx: RequestContext) => void | Promise<void>;

/**
 * An optional capability (CORS, session and XSRF, user authentication, cookies) that takes
 * part in requests. Each method is asked once, when an endpoint is registered, and returns the
 * stage that endpoint needs, or null: an endpoint that does not use a feature pays nothing.
 */
export interface PipelineFeature {
  readonly name: string;
  /** Runs before the handler, in feature order (cors → session/XSRF → authenticate). */
  beforeHandler?(endpoint: EndpointDefinition): Stage | null;
  /** Runs after the handler (and after a handler error), before the response is sent. */
  afterHandler?(endpoint: EndpointDefinition): Stage | null;
}

export interface PipelineOptions {
  app: unknown;
  /**
   * Makes the handler's second argument from the request and its validated parts (the app's
   * typed context; see app/handler-context.ts). Without it, the handler gets `{ body }`.
   */
  context?: ContextFactory;
  features: readonly PipelineFeature[];
  log: Logger;
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
 * request (routing, limits and logging are Fastify's, see server.ts):
 *
 *   parse body → feature stages (cors, session/XSRF, authenticate) → validate + handler
 *   → after-stages (cookies, session saved) → convert the result and send it
 *
 * A thrown error skips to the after-stages with an error answer as the result. The list of
 * stages is settled here, once per endpoint, so a feature an endpoint does not use costs nothing.
 */
export function compileEndpoint(endpoint: EndpointDefinition, options: PipelineOptions) {
  const stages: Stage[] = [
    parseBody,
    ...collect(options.features, (f) => f.beforeHandler?.(endpoint)),
    ...(endpoint.options.authenticateUsers ? [assertUser] : []),
    compileHandlerStage(endpoint, options.context ?? bodyOnly),
  ];
  const after = collect(options.features, (f) => f.afterHandler?.(endpoint));
  const catchAll = catchAllName(endpoint.path);

  const finish = (ctx: RequestContext): void | Promise<void> => {
    const pending = runStages(after, ctx, 0);
    if (pending) return pending.then(() => send(ctx));
    send(ctx);
  };
  const fail = (ctx: RequestContext, error: unknown): void | Promise<void> => {
    // A thrown HttpResponse is the answer itself, as if it had been returned.
    ctx.result = isHttpResponse(error)
      ? error
      : applyErrorAnswer(ctx.reply, errorAnswer(error, options.log));
    return finish(ctx);
  };
  const run = (ctx: RequestContext): void | Promise<void> => {
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
  return function handle(req: FastifyRequest, reply: FastifyReply): void | Promise<void> {
    if (drain.since > 0 && arrivedAfter(reply, drain.since)) return refuseWhileClosing(reply);
    const ctx = createContext(req, reply, endpoint, options.app, catchAll);
    return globalState.als.run(ctx, run, ctx);
  };
}

/**
 * Whether the request reached the router at `since` or later. The handler runs only once the
 * body is in: a request routed before the close began (its body still arriving) is in flight,
 * and is served. Fastify records the routing time for the request log line (an onResponse
 * hook); without it (elapsedTime 0) the request is served rather than refused.
 */
function arrivedAfter(reply: FastifyReply, since: number): boolean {
  const elapsed = reply.elapsedTime;
  return elapsed > 0 && performance.now() - elapsed >= since;
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
    .send({ error: "The server is shutting down; retry on a new connection" });
}

/**
 * Runs `stages` in order from `from`: synchronously while they return nothing, then through
 * the promise of the first one that has something to wait for.
 */
function runStages(
  stages: readonly Stage[],
  ctx: RequestContext,
  from: number,
): void | Promise<void> {
  for (let i = from; i < stages.length; i++) {
    const pending = stages[i]!(ctx);
    if (pending) return pending.then(() => runStages(stages, ctx, i + 1));
  }
}

/**
 * Stage "assert a user", only on `authenticateUsers` endpoints, just before the handler: the
 * authenticate stage answers 401 when nobody is logged in, so reaching here without a user is
 * a bug in Kiln (a stage left out, state kept where this copy of kiln does not look). Failing
 * closed, a 500 with the cause logged, beats a handler that saves rows with no owner or lists
 * everybody's.
 */
const assertUser: Stage = (ctx) => {
  if (ctx.user === null || ctx.user === undefined) {
    throw new KilnError(
      "KILN_NO_USER",
      `The authenticateUsers endpoint ${ctx.endpoint.path} was reached without a user: refused`,
    );
  }
};

/** Stage "parse body": see body.ts. */
const parseBody: Stage = (ctx) => decodeBody(ctx, ctx.raw.body as Buffer | undefined);

/** Stage "convert the result and send it": see respond.ts. */
function send(ctx: RequestContext): void {
  sendResult(ctx.reply, ctx.result, ctx.responseHeaders);
}

/**
 * Stage "validate + handler": calls the handler with the merged keyword parameters and the
 * JSON body (validated first when the endpoint declares schemas) and keeps what it returns.
 */
function compileHandlerStage(endpoint: EndpointDefinition, context: ContextFactory): Stage {
  const { handler } = endpoint;
  const validate = compileValidation(endpoint);
  if (validate) {
    return async (ctx) => {
      const input = await validate(ctx, mergeParams(ctx));
      const second = context(ctx, input.body, input.query, input.urlParams);
      ctx.result = await handler(input.params, second);
    };
  }
  return (ctx) => {
    const params = mergeParams(ctx);
    const result = handler(params, context(ctx, ctx.bodyJson, params, ctx.urlParams));
    if (!isPromise(result)) {
      ctx.result = result;
      return;
    }
    return result.then((value) => {
      ctx.result = value;
    });
  };
}

function isPromise(value: unknown): value is Promise<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

function createContext(
  req: FastifyRequest,
  reply: FastifyReply,
  endpoint: EndpointDefinition,
  app: unknown,
  catchAll: string | null,
): RequestContext {
  const urlParams = paramRecord<string>();
  Object.assign(urlParams, req.params as Record<string, string>);
  if (catchAll !== null) {
    urlParams[catchAll] = urlParams["*"] ?? "";
    delete urlParams["*"];
  }
  return {
    raw: req,
    reply,
    endpoint,
    app,
    queryParams: flattenQuery(req.query),
    formParams: paramRecord(),
    files: paramRecord(),
    urlParams,
    body: null,
    // undefined until a JSON body is parsed: a body schema's `.optional()` accepts a request
    // without one (a GET), which null would fail. `request.bodyJson` still reads null.
    bodyJson: undefined,
    username: null,
    password: null,
    user: null,
    responseHeaders: {},
    featureState: new Map(),
    result: undefined,
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
  return features.map(pick).filter((stage): stage is Stage => typeof stage === "function");
}
