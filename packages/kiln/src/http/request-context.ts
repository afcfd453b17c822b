import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { RequestContext, RequestHeaders, Slot } from "./context.ts";
import type { EndpointDefinition } from "./endpoint.ts";
import type { Media } from "./media.ts";
import { flattenQuery, paramRecord } from "./params.ts";

/**
 * The RequestContext of a request Fastify routed: Kiln's fields read Fastify's request on
 * demand, and what a request never looks at (its query, its URL parameters, response headers,
 * slots) is never built. One object of one shape per request: no closures, no Map.
 */
export class FastifyContext implements RequestContext {
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
  readonly endpoint: EndpointDefinition;
  readonly app: unknown;
  readonly log: Logger;
  readonly #catchAll: string | null;
  status = 200;
  formParams: Record<string, string> = EMPTY;
  files: Record<string, Media> = NO_FILES;
  body: Media | null = null;
  // undefined until a JSON body is parsed: a body schema's `.optional()` accepts a request
  // without one (a GET), which null would fail. `request.bodyJson` still reads null.
  bodyJson: unknown = undefined;
  username: string | null = null;
  password: string | null = null;
  user: unknown = null;
  result: unknown = undefined;
  #query: Record<string, string> | null = null;
  #urlParams: Record<string, string> | null = null;
  #headers: Record<string, string | string[]> | null = null;
  #slots: Record<string, unknown> | null = null;

  constructor(
    req: FastifyRequest,
    reply: FastifyReply,
    endpoint: EndpointDefinition,
    app: unknown,
    log: Logger,
    catchAll: string | null,
  ) {
    this.req = req;
    this.reply = reply;
    this.endpoint = endpoint;
    this.app = app;
    this.log = log;
    this.#catchAll = catchAll;
  }

  get method(): string {
    return this.req.method;
  }
  get url(): string {
    return this.req.url;
  }
  get path(): string {
    const url = this.req.url;
    const q = url.indexOf("?");
    return q === -1 ? url : url.slice(0, q);
  }
  get headers(): RequestHeaders {
    return this.req.headers;
  }
  get ip(): string {
    return this.req.ip;
  }
  get protocol(): string {
    return this.req.protocol;
  }
  get host(): string {
    return this.req.host;
  }

  get queryParams(): Record<string, string> {
    this.#query ??= hasKeys(this.req.query) ? flattenQuery(this.req.query) : EMPTY;
    return this.#query;
  }

  /** `/files/:rest*` names its catch-all `rest`; Fastify calls it `*`. */
  get urlParams(): Record<string, string> {
    if (this.#urlParams === null && this.#catchAll === null && !hasKeys(this.req.params)) {
      this.#urlParams = EMPTY;
    }
    if (this.#urlParams === null) {
      const params = paramRecord<string>();
      Object.assign(params, this.req.params as Record<string, string>);
      if (this.#catchAll !== null) {
        params[this.#catchAll] = params["*"] ?? "";
        delete params["*"];
      }
      this.#urlParams = params;
    }
    return this.#urlParams;
  }

  get responseHeaders(): Record<string, string | string[]> {
    this.#headers ??= {};
    return this.#headers;
  }

  /** The response headers stages added, or null when none did (most requests). */
  get addedHeaders(): Record<string, string | string[]> | null {
    return this.#headers;
  }

  get<T>(slot: Slot<T>): T | undefined {
    return this.#slots?.[slot.key] as T | undefined;
  }

  set<T>(slot: Slot<T>, value: T): void {
    this.#slots ??= paramRecord();
    this.#slots[slot.key] = value;
  }
}

/** Whether a parsed query or parameters object has any key (most requests have none). */
function hasKeys(value: unknown): boolean {
  if (!value || typeof value !== "object") return false;
  for (const _ in value) return true;
  return false;
}

/**
 * The shared empty record of a request without a form body (or query, or URL parameters); `decodeBody` replaces it with a
 * fresh one before writing. Frozen, so a stray write fails loudly instead of leaking.
 */
const EMPTY: Record<string, string> = Object.freeze(paramRecord<string>());
const NO_FILES: Record<string, Media> = Object.freeze(paramRecord<Media>());
