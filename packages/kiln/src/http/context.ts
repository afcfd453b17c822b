import type { Logger } from "pino";
import { KilnError } from "../errors.ts";
import type { EndpointDefinition } from "./endpoint.ts";
import { globalState } from "./global-state.ts";
import type { Media } from "./media.ts";

/** Request headers, names lower-case (Node's `IncomingHttpHeaders`). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * A value one pipeline stage produces for the stages after it, and for the handler's side of
 * Kiln (`users.getUser()`, `session`): typed by `T`, found under `key`. The key is a string,
 * never a per-copy symbol: another copy of kiln loaded in the same process (the app's own
 * node_modules) must find what this one stored (see global-state.ts). It names its feature and
 * the state version: "kiln.users.user.v2".
 */
export interface Slot<T> {
  readonly key: string;
  /** Never set: carries `T` for the type checker. */
  readonly type?: () => T;
}

export function slot<T>(key: string): Slot<T> {
  return { key };
}

/**
 * Everything Kiln knows about the request being handled, in Kiln's own terms: no stage or
 * feature outside http/ sees the HTTP server's objects. The public `request` object reads from
 * it; pipeline stages fill in its parts (body, user) and the values of their slots.
 */
export interface RequestContext {
  readonly method: string;
  /** The path and query as the client sent them (still percent-encoded). */
  readonly url: string;
  /** `url` without the query string. */
  readonly path: string;
  readonly headers: RequestHeaders;
  /** The client's address (the proxy's client with `trustProxy`). */
  readonly ip: string;
  /** "http" or "https" (`X-Forwarded-Proto` honoured only with `trustProxy`). */
  readonly protocol: string;
  /** The host as the client addressed it, with its port (`X-Forwarded-Host` likewise). */
  readonly host: string;
  readonly endpoint: EndpointDefinition;
  /** The app serving this request (typed loosely here to keep http/ free of app/). */
  readonly app: unknown;
  /** The app's logger. */
  readonly log: Logger;
  /** The answer's status: 200 unless the error path (or an HttpResponse result) says otherwise. */
  status: number;
  readonly queryParams: Record<string, string>;
  formParams: Record<string, string>;
  files: Record<string, Media>;
  readonly urlParams: Record<string, string>;
  body: Media | null;
  /** The parsed JSON body; undefined when the request has none (the handler's `body`). */
  bodyJson: unknown;
  username: string | null;
  password: string | null;
  /** The principal (`request.user`): a users row, or what a `requireAuth` check returned. */
  user: unknown;
  /** Headers added to the response by stages (cookies, CORS, challenges). */
  readonly responseHeaders: Record<string, string | string[]>;
  /** What the handler returned (or the error answer): converted into the response last. */
  result: unknown;
  /** The value a stage produced under `slot`, or undefined when none did (yet). */
  get<T>(slot: Slot<T>): T | undefined;
  /** Stores a feature's per-request value (a stage's output is stored by the pipeline). */
  set<T>(slot: Slot<T>, value: T): void;
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
 * A request object whose getters read the request `resolve` gives, at each read: the importable
 * `request` resolves the request being handled (AsyncLocalStorage), a handler's `ctx.request`
 * its own request, so that it keeps working wherever the handler's code runs.
 */
export function requestOf(resolve: () => RequestContext) {
  return {
    get method(): string {
      return resolve().method;
    },
    /** The path without the query string, as the client sent it (still percent-encoded). */
    get path(): string {
      return resolve().path;
    },
    /** The full URL, with scheme and host as the client addressed them. */
    get url(): string {
      const ctx = resolve();
      return `${ctx.protocol}://${ctx.host}${ctx.url}`;
    },
    /** Request headers, names lower-case. */
    get headers(): RequestHeaders {
      return resolve().headers;
    },
    get queryParams(): Readonly<Record<string, string>> {
      return resolve().queryParams;
    },
    get formParams(): Readonly<Record<string, string>> {
      return resolve().formParams;
    },
    /** Files uploaded in a multipart body, by field name. */
    get files(): Readonly<Record<string, Media>> {
      return resolve().files;
    },
    /**
     * The raw body as a Media (JSON included), or null when there was none or it was a form
     * (urlencoded or multipart), whose fields are in `formParams` and uploads in `files`.
     */
    get body(): Media | null {
      return resolve().body;
    },
    /** The parsed JSON body (null when the request has no JSON body). */
    get bodyJson(): unknown {
      return resolve().bodyJson ?? null;
    },
    get remoteAddress(): string {
      return resolve().ip;
    },
    /** The `Origin` header, or null. */
    get origin(): string | null {
      const origin = resolve().headers.origin;
      return typeof origin === "string" ? origin : null;
    },
    /** From HTTP Basic authentication, or null. */
    get username(): string | null {
      return resolve().username;
    },
    get password(): string | null {
      return resolve().password;
    },
    /** The authenticated user row (or `requireAuth` function's principal), or null. */
    get user(): unknown {
      return resolve().user;
    },
  };
}

/**
 * The current HTTP request, valid inside a handler and everything it awaits.
 * @example const agent = request.headers["user-agent"];
 */
export const request = requestOf(currentContext);

export type KilnRequest = typeof request;
