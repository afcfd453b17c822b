import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { globalState } from "../runtime/global-state.ts";
import { decodeBody } from "./body.ts";
import type { RequestContext } from "./context.ts";
import type { EndpointDefinition } from "./endpoint.ts";
import { errorAnswer } from "./errors-response.ts";
import { flattenQuery, mergeParams } from "./params.ts";
import { sendResult } from "./respond.ts";
import { validatePart } from "./validate.ts";

/** A step of the request pipeline; it may fill in the context, or throw an HttpError. */
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
  features: readonly PipelineFeature[];
  log: Logger;
}

/**
 * Builds the request handler of one endpoint. Read top to bottom, this is the life of a
 * request (routing, limits and logging are Fastify's, see server.ts):
 *
 *   parse body → feature stages (cors, session/XSRF, authenticate) → validate
 *   → handler → convert the result → after-stages (cookies, session saved) → send
 */
export function compileEndpoint(endpoint: EndpointDefinition, options: PipelineOptions) {
  const before = collect(options.features, (f) => f.beforeHandler?.(endpoint));
  const after = collect(options.features, (f) => f.afterHandler?.(endpoint));
  const validate = compileValidation(endpoint);
  const catchAll = catchAllName(endpoint.path);

  async function run(ctx: RequestContext, rawBody: Buffer | undefined): Promise<unknown> {
    await decodeBody(ctx, rawBody);
    for (const stage of before) await stage(ctx);
    const params = mergeParams(ctx);
    const input = validate ? await validate(ctx, params) : { params, body: ctx.bodyJson };
    return endpoint.handler(input.params, { body: input.body });
  }

  return function handle(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const ctx = createContext(req, reply, endpoint, options.app, catchAll);
    return globalState.als.run(ctx, async () => {
      let result: unknown;
      try {
        result = await run(ctx, req.body as Buffer | undefined);
      } catch (error) {
        const answer = errorAnswer(error, options.log);
        for (const stage of after) await stage(ctx);
        return sendResult(reply.code(answer.status), answer.body, ctx.responseHeaders);
      }
      for (const stage of after) await stage(ctx);
      return sendResult(reply, result, ctx.responseHeaders);
    });
  };
}

function createContext(
  req: FastifyRequest,
  reply: FastifyReply,
  endpoint: EndpointDefinition,
  app: unknown,
  catchAll: string | null,
): RequestContext {
  const urlParams = { ...(req.params as Record<string, string>) };
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
    formParams: {},
    files: {},
    urlParams,
    body: null,
    bodyJson: null,
    username: null,
    password: null,
    user: null,
    responseHeaders: {},
    featureState: new Map(),
  };
}

type Validator = (
  ctx: RequestContext,
  params: Record<string, string>,
) => Promise<{ params: Record<string, unknown>; body: unknown }>;

/** Validation stage, built only for endpoints that declare schemas. */
function compileValidation(endpoint: EndpointDefinition): Validator | null {
  const { body, query, params } = endpoint.options;
  if (!body && !query && !params) return null;
  return async (ctx, merged) => {
    let values: Record<string, unknown> = merged;
    if (query) {
      // The query schema sees every keyword parameter; URL parameters survive a schema that
      // strips unknown keys.
      values = { ...ctx.urlParams, ...((await validatePart("query", query, merged)) as object) };
    }
    if (params) {
      const urlParams = (await validatePart("params", params, ctx.urlParams)) as object;
      values = { ...values, ...urlParams };
    }
    const validBody = body ? await validatePart("body", body, ctx.bodyJson) : ctx.bodyJson;
    return { params: values, body: validBody };
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
