import { validateHeaderName, validateHeaderValue } from "node:http";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { DestinationStream, Logger } from "pino";
import { KilnError } from "../errors.ts";
import { elapsedMs, stampArrivals } from "./arrival.ts";
import { clientErrorHandler } from "./client-errors.ts";
import { corsFeature, registerPreflights } from "./cors.ts";
import {
  allowedMethods,
  type EndpointDefinition,
  HTTP_METHODS,
  type HttpMethod,
} from "./endpoint.ts";
import { applyErrorAnswer, errorAnswer } from "./errors-response.ts";
import { hostAllowed, hostName } from "./loopback.ts";
import { type ContextFactory, compileEndpoint, type PipelineFeature } from "./pipeline.ts";
import { requestLine } from "./request-log.ts";
import { toFastifyPath } from "./route-path.ts";

export { toFastifyPath };

/** The HTTP server of an app (`app.server`): Fastify's, for what Kiln does not cover. */
export type HttpServer = FastifyInstance;
export type { InjectOptions, LightMyRequestResponse } from "fastify";

export interface ServerLimits {
  /**
   * Largest request body in bytes (default 1 MiB, Fastify's own); `settings.bodyLimit` in
   * kiln.yaml sets it for the app and `bodyLimit` on an endpoint for that endpoint (uploads).
   */
  bodySize: number;
  /** Whole request must arrive within this many ms (default 30 s); else 408. */
  requestTimeout: number;
  /** Headers must arrive within this many ms (default 10 s); else 408. */
  headersTimeout: number;
  /** Idle keep-alive connections close after this many ms (default 5 s). */
  keepAliveTimeout: number;
  /** Largest header block in bytes (default 16 KiB, Node's); larger is a 431. */
  maxHeaderSize: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  // Parsing is synchronous: a 10 MiB JSON body holds the event loop for over a second, so
  // the default stays small and an app raises it where it takes uploads.
  bodySize: 1024 * 1024,
  requestTimeout: 30_000,
  headersTimeout: 10_000,
  keepAliveTimeout: 5_000,
  maxHeaderSize: 16 * 1024,
};

export interface ServerOptions {
  app: unknown;
  prefix: string;
  endpoints: readonly EndpointDefinition[];
  features: readonly PipelineFeature[];
  /** Makes each handler's second argument (see PipelineOptions.context). */
  context?: ContextFactory;
  /** Whether requests enter AsyncLocalStorage, for the importable views (default true). */
  requestViews?: boolean;
  health: () => Promise<boolean>;
  limits: ServerLimits;
  log: Logger;
  /**
   * The stream `log` writes to: each request's line is written there directly (see
   * requestLine). Without it, the line goes through `log.info`.
   */
  logDestination?: DestinationStream;
  trustProxy: boolean;
  /**
   * Answer only requests whose `Host` is loopback or this host (see hostAllowed); others get
   * a 421. `kiln dev` sets it: a development server is what DNS rebinding goes after.
   */
  onlyHost?: string;
}

/**
 * The Fastify instance of an app: one route per endpoint (its pipeline compiled once, here), a
 * 405 route per path for the other methods, CORS preflights, Kiln's own `/_/health`, and one
 * log line per request. Fastify's own request logging is off: Kiln logs exactly once per
 * request. Every answer carries `X-Content-Type-Options: nosniff`, set where it is sent (an
 * onRequest hook would cost every request a hook call).
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const { limits, log } = options;
  const writeLine = requestLine(log, options.logDestination);
  const logRequest = (req: FastifyRequest, reply: FastifyReply) =>
    writeLine(req.method, req.url, reply.statusCode, elapsedMs(req));
  const server = Fastify({
    logger: false,
    bodyLimit: limits.bodySize,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    connectionTimeout: 0,
    http: {
      headersTimeout: limits.headersTimeout,
      maxHeaderSize: limits.maxHeaderSize,
      // Node enforces both timeouts only when it sweeps its connections (every 30 s by
      // default), so a short timeout would in fact last up to 30 s longer: sweep often enough.
      connectionsCheckingInterval: Math.max(
        100,
        Math.min(1_000, limits.headersTimeout / 4, limits.requestTimeout / 4),
      ),
    },
    // Malformed HTTP, oversized headers or URL, slow clients: answered in Kiln's JSON shape.
    clientErrorHandler: clientErrorHandler(limits, log),
    trustProxy: options.trustProxy,
    forceCloseConnections: "idle",
    // Kiln answers those 503s itself, in its own shape (pipeline.ts, refuseWhileClosing).
    return503OnClosing: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2000 },
    // A bad percent-encoding or an overlong parameter is answered here, before routing: without
    // this, Fastify writes its own body and no log line; with it, the same JSON error shape.
    frameworkErrors: (error, req: FastifyRequest, reply: FastifyReply) => {
      reply.header("x-content-type-options", "nosniff"); // no onRequest hook before routing
      reply.send(applyErrorAnswer(reply, errorAnswer(error, log)));
      logRequest(req, reply);
    },
  });

  stampArrivals(server.server);

  // Kiln decodes bodies itself (http/body.ts) so the raw bytes stay available as
  // `request.body`; Fastify only buffers them, enforcing the size limit.
  server.removeAllContentTypeParsers();
  server.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

  const onlyHost = options.onlyHost;
  if (onlyHost !== undefined) {
    server.addHook("onRequest", (req, reply, done) => {
      if (hostAllowed(req.headers.host, onlyHost)) return done();
      const name = hostName(req.headers.host ?? "").slice(0, 100);
      reply
        .code(421)
        .header("x-content-type-options", "nosniff")
        .send({
          error: `This development server answers only requests for localhost or ${onlyHost}, not for "${name}" (a page on another site pointing its name at this machine, DNS rebinding). Open the app at localhost.`,
        });
      logRequest(req, reply);
    });
  }

  // Each answer is logged where it is sent, right after: an onResponse hook would cost every
  // request Fastify's hook runner. Every way out is covered: the endpoints' pipeline, the 405,
  // 404 and preflight answers, health, the error handler (a body too large, a header Node
  // refused) and frameworkErrors above; malformed HTTP is logged by clientErrorHandler.

  // Every error, Kiln's, the handler's, Node's or Fastify's, is answered here in Kiln's shape.
  // A header that Node refused to write (a handler's HttpResponse header holding a newline) is
  // still on the reply: dropped first, or sending the answer would fail the same way and
  // Fastify would answer with its own body, quoting Node's message.
  server.setErrorHandler((error, req, reply) => {
    dropInvalidHeaders(reply);
    reply.header("x-content-type-options", "nosniff");
    reply.send(applyErrorAnswer(reply, errorAnswer(error, log)));
    logRequest(req, reply);
    return reply;
  });
  server.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .header("x-content-type-options", "nosniff")
      .send({ error: `No endpoint at ${req.method} ${pathOf(req.url)}` });
    logRequest(req, reply);
  });

  const drain = { since: 0 };
  server.addHook("preClose", (done) => {
    drain.since = performance.now();
    done();
  });

  server.get("/_/health", async (req, reply) => {
    reply.header("x-content-type-options", "nosniff");
    // Draining: a load balancer should stop sending here at once.
    if (drain.since > 0) reply.code(503).header("connection", "close").send(UNAVAILABLE);
    else {
      const healthy = await within(HEALTH_TIMEOUT_MS, options.health());
      reply.code(healthy ? 200 : 503).send(healthy ? { status: "ok" } : UNAVAILABLE);
    }
    logRequest(req, reply);
    return reply;
  });

  const features = [corsFeature, ...options.features];
  for (const [url, endpoints] of byPath(options.prefix, options.endpoints)) {
    const taken = new Set<HttpMethod>();
    for (const endpoint of endpoints) {
      const methods = allowedMethods(endpoint).filter((m) => m !== "HEAD");
      for (const method of methods) taken.add(method);
      server.route({
        method: methods,
        url,
        bodyLimit: endpoint.options.bodyLimit ?? limits.bodySize,
        handler: compileEndpoint(endpoint, {
          app: options.app,
          context: options.context,
          requestViews: options.requestViews,
          features,
          log,
          logRequest,
          drain,
        }),
      });
    }
    // HEAD follows GET (Fastify answers it from the GET route); added last, it is listed last.
    if (taken.has("GET")) taken.add("HEAD");
    const others = HTTP_METHODS.filter((m) => !taken.has(m) && m !== "OPTIONS");
    const allow = [...taken].join(", ");
    const notAllowed = (req: FastifyRequest, reply: FastifyReply) => {
      reply
        .code(405)
        .header("allow", allow)
        .header("x-content-type-options", "nosniff")
        .send({ error: `Method not allowed; this endpoint accepts ${allow}` });
      logRequest(req, reply);
    };
    if (others.length > 0) server.route({ method: others, url, handler: notAllowed });
    // crossOrigin endpoints get their preflight route from registerPreflights (http/cors.ts);
    // an endpoint that lists OPTIONS among its methods answers it itself.
    if (!endpoints.some((e) => e.options.crossOrigin) && !taken.has("OPTIONS"))
      server.route({ method: "OPTIONS", url, handler: notAllowed });
  }
  registerPreflights(server, options.endpoints, options.prefix, logRequest);
  closeConnectionsWhenIdle(server);
  return server;
}

/**
 * The endpoints grouped by their Fastify path, in registration order. A path may have several
 * registrations, one per method (`GET /tasks/:id` and `PUT /tasks/:id` as two handlers); the
 * same method twice is refused, naming both registrations.
 */
function byPath(
  prefix: string,
  endpoints: readonly EndpointDefinition[],
): Map<string, EndpointDefinition[]> {
  const groups = new Map<string, EndpointDefinition[]>();
  const owners = new Map<string, EndpointDefinition>();
  for (const endpoint of endpoints) {
    const url = toFastifyPath(prefix + endpoint.path);
    for (const method of allowedMethods(endpoint)) {
      const key = `${method} ${url}`;
      const first = owners.get(key);
      if (first) {
        throw new KilnError(
          "KILN_DUPLICATE_ENDPOINT",
          `Two endpoints are registered for ${method} ${endpoint.path}: ${describe(first)} and ${describe(endpoint)}; a path may have one handler per method`,
        );
      }
      owners.set(key, endpoint);
    }
    const group = groups.get(url);
    if (group) group.push(endpoint);
    else groups.set(url, [endpoint]);
  }
  return groups;
}

/** An endpoint registration as its author wrote it: path, methods and handler name. */
function describe(endpoint: EndpointDefinition): string {
  const methods = endpoint.options.methods ?? ["GET", "POST"];
  const name = endpoint.handler.name ? ` (handler ${endpoint.handler.name})` : "";
  return `httpEndpoint(${JSON.stringify(endpoint.path)}, { methods: ${JSON.stringify(methods)} })${name}`;
}

/**
 * While the server shuts down, closes each keep-alive connection as soon as its last request
 * is answered. Node closes the connections idle at the moment `close()` is called, but one
 * that finishes an in-flight request afterwards would stay open for keepAliveTimeout, holding
 * the process (and a deploy) up for seconds after its last answer.
 */
function closeConnectionsWhenIdle(server: FastifyInstance): void {
  let timer: NodeJS.Timeout | undefined;
  server.addHook("preClose", (done) => {
    timer = setInterval(() => server.server.closeIdleConnections(), 50);
    done();
  });
  server.addHook("onClose", (_instance, done) => {
    clearInterval(timer);
    done();
  });
}

/** Removes every header Node would refuse to write (bad name, or a value with CR, LF, NUL...). */
function dropInvalidHeaders(reply: FastifyReply): void {
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    try {
      validateHeaderName(name);
      for (const one of Array.isArray(value) ? value : [value]) {
        validateHeaderValue(name, String(one));
      }
    } catch {
      reply.removeHeader(name);
    }
  }
}

/**
 * A health check gives up on the database after this, whatever the database does: a load
 * balancer polls it with its own short timeout, and a check that hangs (a database host
 * dropping packets) would otherwise read as "the app is down" only after the balancer's
 * patience, not as a 503. The promise is an answer within 3 s: half a second is left for the
 * answer itself on a busy machine.
 */
const HEALTH_TIMEOUT_MS = 2_500;

const UNAVAILABLE = { status: "unavailable" };

/** `check`'s verdict, or false if it fails or takes longer than `ms`. */
function within(ms: number, check: Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([check.catch(() => false), late]).finally(() => clearTimeout(timer));
}

function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}
