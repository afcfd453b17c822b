import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { RequestContext } from "./context.ts";
import { allowedMethods, type EndpointDefinition } from "./endpoint.ts";
import { type ErrorLog, originOf, originPolicy } from "./origins.ts";
import type { PipelineFeature } from "./pipeline.ts";
import { toFastifyPath } from "./route-path.ts";

/**
 * CORS for endpoints declared `crossOrigin`, and only for them: an endpoint without it sends
 * no CORS header at all, so browsers keep other origins from reading its answers.
 *
 * - `crossOrigin: true`: `Access-Control-Allow-Origin: *` and never
 *   `Access-Control-Allow-Credentials`, so a browser hands a foreign script the answer only
 *   to a request made without credentials (a credentialed fetch is refused by the browser).
 * - a list of origins, or a function: a listed origin gets itself back in
 *   `Access-Control-Allow-Origin` with `Access-Control-Allow-Credentials: true`; any other
 *   origin gets no CORS header, so its script cannot read the answer.
 * - `Vary: Origin` on every answer, so a cache never serves one origin's answer to another.
 * - `OPTIONS` preflights are answered the same way, with the endpoint's methods and the
 *   requested headers.
 *
 * Reading is half of it; acting as the user is the XSRF rule's (cookies/xsrf.ts): only a
 * listed origin's requests run as the browser's user.
 */
export const corsFeature: PipelineFeature = {
  name: "cors",
  // After the handler, so that error answers (a 400 on a bad body, a 500) are readable too.
  afterHandler: (endpoint) =>
    endpoint.options.crossOrigin
      ? { name: "cors", run: (ctx) => addCorsHeaders(ctx, endpoint) }
      : null,
};

/** How long a browser may cache a preflight answer (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE = "600";
/** A header-name list as browsers send it; anything else is not echoed back. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

function addCorsHeaders(ctx: RequestContext, endpoint: EndpointDefinition): void {
  Object.assign(ctx.responseHeaders, allowOrigin(ctx.headers.origin, endpoint, ctx, ctx.log));
}

function allowOrigin(
  named: string | string[] | undefined,
  endpoint: EndpointDefinition,
  request: object,
  log?: ErrorLog,
): Record<string, string> {
  const policy = originPolicy(endpoint);
  if (policy.anyWithoutCredentials) return { "access-control-allow-origin": "*", vary: "Origin" };
  const origin = typeof named === "string" ? originOf(named) : null;
  if (origin !== null && policy.trusts(origin, request, log)) {
    return {
      "access-control-allow-origin": origin,
      "access-control-allow-credentials": "true",
      vary: "Origin",
    };
  }
  return { vary: "Origin" };
}

/**
 * Registers an `OPTIONS` route answering preflights for every `crossOrigin` endpoint (an
 * endpoint that handles OPTIONS itself keeps it). Called by buildServer.
 */
export function registerPreflights(
  server: FastifyInstance,
  endpoints: readonly EndpointDefinition[],
  prefix: string,
  logRequest: (req: FastifyRequest, reply: FastifyReply) => void,
): void {
  // A path may have one registration per method: one preflight route per path, answered by
  // its first crossOrigin registration's policy, naming the methods of all of them.
  const done = new Set<string>();
  for (const endpoint of endpoints) {
    if (!endpoint.options.crossOrigin) continue;
    const url = toFastifyPath(prefix + endpoint.path);
    if (done.has(url)) continue;
    done.add(url);
    const samePath = endpoints.filter((e) => toFastifyPath(prefix + e.path) === url);
    if (samePath.some((e) => allowedMethods(e).includes("OPTIONS"))) continue;
    const methods = samePath.filter((e) => e.options.crossOrigin).flatMap(allowedMethods);
    const allow = [...new Set(methods)].join(", ");
    server.route({
      method: "OPTIONS",
      url,
      handler: (req, reply) => {
        answerPreflight(req, reply, endpoint, allow);
        logRequest(req, reply);
      },
    });
  }
}

function answerPreflight(
  req: FastifyRequest,
  reply: FastifyReply,
  endpoint: EndpointDefinition,
  allow: string,
): FastifyReply {
  reply.code(204).headers(allowOrigin(req.headers.origin, endpoint, req));
  reply.header("x-content-type-options", "nosniff");
  reply.header("allow", `${allow}, OPTIONS`);
  reply.header("access-control-allow-methods", allow);
  const requested = req.headers["access-control-request-headers"];
  if (typeof requested === "string" && HEADER_LIST.test(requested.trim())) {
    reply.header("access-control-allow-headers", requested.trim());
  }
  reply.header("access-control-max-age", PREFLIGHT_MAX_AGE);
  reply.header("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
  return reply.send();
}
