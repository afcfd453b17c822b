import type { FastifyReply, FastifyRequest } from "fastify";
import { KilnError } from "../errors.ts";
import type { EndpointDefinition } from "./endpoint.ts";
import { globalState } from "./global-state.ts";
import type { Media } from "./media.ts";

/**
 * Everything Kiln knows about the request being handled. The public `request` object reads
 * from it; pipeline stages (auth, session, cookies) fill it in.
 */
export interface RequestContext {
  readonly raw: FastifyRequest;
  readonly reply: FastifyReply;
  readonly endpoint: EndpointDefinition;
  /** The app serving this request (typed loosely here to keep http/ free of app/). */
  readonly app: unknown;
  queryParams: Record<string, string>;
  formParams: Record<string, string>;
  files: Record<string, Media>;
  urlParams: Record<string, string>;
  body: Media | null;
  /** The parsed JSON body; undefined when the request has none (the handler's `body`). */
  bodyJson: unknown;
  username: string | null;
  password: string | null;
  user: unknown;
  /** Headers added to the response by stages (cookies, CORS, security headers). */
  responseHeaders: Record<string, string | string[]>;
  /**
   * Per-request state of optional features (cookies, session, the user), keyed by each
   * feature. Keyed by strings, never per-copy symbols: another copy of kiln loaded in the same
   * process (the app's own node_modules) must find what this one stored (see global-state.ts).
   * A key names its feature and the state version: "kiln.users.user.v2".
   */
  readonly featureState: Map<string, unknown>;
  /** What the handler returned (or the error answer): converted into the response last. */
  result: unknown;
}

/** The request being handled; throws a clear error when called outside a handler. */
export function currentContext(): RequestContext {
  const context = globalState.als.getStore();
  if (!context) {
    throw new KilnError(
      "KILN_NO_REQUEST",
      "No request is being handled here: `request`, `cookies` and `session` work only inside an endpoint handler and what it awaits",
    );
  }
  return context;
}

/** The request being handled, or undefined outside a handler. */
export function maybeContext(): RequestContext | undefined {
  return globalState.als.getStore();
}

/**
 * The current HTTP request, valid inside a handler and everything it awaits.
 * @example const agent = request.headers["user-agent"];
 */
export const request = {
  get method(): string {
    return currentContext().raw.method;
  },
  /** The path without the query string, as the client sent it (still percent-encoded). */
  get path(): string {
    const url = currentContext().raw.url;
    const q = url.indexOf("?");
    return q === -1 ? url : url.slice(0, q);
  },
  /** The full URL, with scheme and host as the client addressed them. */
  get url(): string {
    const raw = currentContext().raw;
    return `${raw.protocol}://${raw.host}${raw.url}`;
  },
  /** Request headers, names lower-case. */
  get headers(): Readonly<Record<string, string | string[] | undefined>> {
    return currentContext().raw.headers;
  },
  get queryParams(): Readonly<Record<string, string>> {
    return currentContext().queryParams;
  },
  get formParams(): Readonly<Record<string, string>> {
    return currentContext().formParams;
  },
  /** Files uploaded in a multipart body, by field name. */
  get files(): Readonly<Record<string, Media>> {
    return currentContext().files;
  },
  /**
   * The raw body as a Media (JSON included), or null when there was none or it was a form
   * (urlencoded or multipart), whose fields are in `formParams` and uploads in `files`.
   */
  get body(): Media | null {
    return currentContext().body;
  },
  /** The parsed JSON body (null when the request has no JSON body). */
  get bodyJson(): unknown {
    return currentContext().bodyJson ?? null;
  },
  get remoteAddress(): string {
    return currentContext().raw.ip;
  },
  /** The `Origin` header, or null. */
  get origin(): string | null {
    const origin = currentContext().raw.headers.origin;
    return typeof origin === "string" ? origin : null;
  },
  /** From HTTP Basic authentication, or null. */
  get username(): string | null {
    return currentContext().username;
  },
  get password(): string | null {
    return currentContext().password;
  },
  /** The authenticated user row (or `requireAuth` function's principal), or null. */
  get user(): unknown {
    return currentContext().user;
  },
};

export type KilnRequest = typeof request;
