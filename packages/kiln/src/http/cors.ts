import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { RequestContext } from "./context.ts";
import { allowedMethods, type EndpointDefinition } from "./endpoint.ts";
import type { PipelineFeature } from "./pipeline.ts";
import { toFastifyPath } from "./server.ts";

/**
 * CORS for endpoints declared `crossOrigin: true`, and only for them: an endpoint without it
 * sends no CORS header at all, so browsers keep other origins from reading its answers.
 *
 * - A request with an `Origin` gets `Access-Control-Allow-Origin: <that origin>` and
 *   `Access-Control-Allow-Credentials: true` (so credentialed fetches work); one without an
 *   `Origin` (or with the opaque `null` origin of a sandboxed frame or file) gets `*`, which
 *   browsers never combine with credentials.
 * - `Vary: Origin` on every answer, so a cache never serves one origin's answer to another.
 * - `OPTIONS` preflights are answered with the endpoint's methods and the requested headers.
 *
 * Letting another origin *read* an endpoint does not let it act as the browser's user: the
 * XSRF rule (a foreign origin runs in a fresh session) still applies unless the endpoint also
 * says `crossSiteSession: true`.
 */
export const corsFeature: PipelineFeature = {
  name: "cors",
  // After the handler, so that error answers (a 400 on a bad body, a 500) are readable too.
  afterHandler: (endpoint) => (endpoint.options.crossOrigin ? addCorsHeaders : null),
};

/** How long a browser may cache a preflight answer (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE = "600";
/** A header-name list as browsers send it; anything else is not echoed back. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

function addCorsHeaders(ctx: RequestContext): void {
  Object.assign(ctx.responseHeaders, allowOrigin(ctx.raw));
}

function allowOrigin(req: FastifyRequest): Record<string, string> {
  const origin = req.headers.origin;
  if (typeof origin === "string" && origin !== "null" && origin.length > 0) {
    return {
      "access-control-allow-origin": origin,
      "access-control-allow-credentials": "true",
      vary: "Origin",
    };
  }
  return { "access-control-allow-origin": "*", vary: "Origin" };
}

/**
 * Registers an `OPTIONS` route answering preflights for every `crossOrigin` endpoint (an
 * endpoint that handles OPTIONS itself keeps it). Called from the cookies service's
 * `extendRoutes`.
 */
export function registerPreflights(
  server: FastifyInstance,
  endpoints: readonly EndpointDefinition[],
  prefix: string,
): void {
  for (const endpoint of endpoints) {
    if (!endpoint.options.crossOrigin) continue;
    const methods = allowedMethods(endpoint);
    if (methods.includes("OPTIONS")) continue;
    const allow = methods.join(", ");
    server.route({
      method: "OPTIONS",
      url: toFastifyPath(prefix + endpoint.path),
      handler: (req, reply) => answerPreflight(req, reply, allow),
    });
  }
}

function answerPreflight(req: FastifyRequest, reply: FastifyReply, allow: string): FastifyReply {
  reply.code(204).headers(allowOrigin(req));
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
