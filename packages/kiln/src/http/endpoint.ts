import { KilnError } from "../errors.ts";
import type { KilnRequest } from "./context.ts";
import { type CrossOriginOption, checkCrossOrigin } from "./origins.ts";
import type { StandardSchemaV1 } from "./standard-schema.ts";
import type { ValidationErrorOption } from "./validation-errors.ts";

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Names of the `:name` segments of a path, so handlers get typed URL parameters. */
type PathParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | PathParamNames<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name extends `${infer Base}*`
      ? Base
      : Name
    : never;

/** URL parameters of a path: `PathParams<"/tasks/:id">` is `{ id: string }`. */
export type PathParams<P extends string> = { [K in PathParamNames<P>]: string };

/** Form, query and URL parameters merged (later wins): every value is a string. */
export type KeywordParams = Record<string, string | undefined>;

/**
 * Checks Basic credentials itself and returns the principal (falsy = 401): a users row then
 * counts as that user (`users.getUser()`), anything else is `request.user` alone.
 */
export type CredentialCheck = (
  username: string,
  password: string,
  request: KilnRequest,
) => unknown | Promise<unknown>;

/**
 * An authentication scheme of the app's own, for `Authorization: <scheme> <credentials>`.
 * `check` gets the credentials (the text after the scheme name) and the request, and returns
 * a users row (which then behaves exactly like a Basic-authenticated user), another principal
 * (`request.user`), or a falsy value (401). The 401 challenge names every accepted scheme.
 * @example
 * const apiKey: AuthScheme = {
 *   scheme: "Token",
 *   check: async (key) => tables.partners.get({ apiKey: key }),
 * };
 * httpEndpoint("/orders", { requireAuth: apiKey }, () => request.user);
 */
export interface AuthScheme {
  /** The scheme name as clients send it (matched case-insensitively), e.g. `"Token"`. */
  readonly scheme: string;
  check(credentials: string, request: KilnRequest): unknown | Promise<unknown>;
}

export interface EndpointOptions<
  Body extends StandardSchemaV1 | undefined = undefined,
  Query extends StandardSchemaV1 | undefined = undefined,
  Params extends StandardSchemaV1 | undefined = undefined,
  Auth extends boolean | undefined = boolean | undefined,
> {
  /** Allowed methods; default `["GET", "POST"]`. `HEAD` follows `GET`. */
  methods?: readonly HttpMethod[];
  /**
   * Require an enabled user of the Users service: Basic credentials, an API token
   * (`Authorization: Bearer kiln_...`), or a session. Schemes given in `requireAuth` are
   * accepted too.
   */
  authenticateUsers?: Auth;
  /**
   * Require credentials: `true` (Basic, checked by the handler), a function (checks Basic
   * credentials), or one or more AuthSchemes of the app's own (any scheme).
   */
  requireAuth?: boolean | CredentialCheck | AuthScheme | readonly AuthScheme[];
  /**
   * Let other origins' scripts read the answers (CORS, preflights answered). `true`: any
   * origin, without credentials. A list of origins (or a function deciding per origin): those
   * origins read with credentials, and their requests run as the browser's user.
   * @example crossOrigin: ["https://app.example.com", "http://localhost:5173"]
   */
  crossOrigin?: CrossOriginOption;
  /**
   * Let cross-site requests from *any* origin run as the browser's user (session, cookies,
   * remembered Basic credentials): turns the XSRF defence off. Prefer listing the trusted
   * origins in `crossOrigin`.
   */
  crossSiteSession?: boolean;
  /** Largest accepted body in bytes; default the app's (1 MiB). */
  bodyLimit?: number;
  /** Standard Schema (zod, valibot, arktype...) for the JSON body. */
  body?: Body;
  /** Standard Schema for the merged keyword parameters (form + query + URL). */
  query?: Query;
  /** Standard Schema for the URL parameters. */
  params?: Params;
  /**
   * How a failed `body` / `query` / `params` schema is answered; default
   * `400 {"error", "problems"}`. `{ status: 422, shape: "fields" }` gives
   * `422 {"errors": {field: [messages]}}`; a function makes the answer itself.
   */
  validationError?: ValidationErrorOption;
}

/** An endpoint as registered: the untyped form the pipeline works with. */
export interface EndpointDefinition {
  path: string;
  options: EndpointOptions<
    StandardSchemaV1 | undefined,
    StandardSchemaV1 | undefined,
    StandardSchemaV1 | undefined
  >;
  /** The handler: the keyword parameters, and the context the app makes (see PipelineOptions). */
  handler(params: Record<string, unknown>, context: unknown): unknown;
}

/** Normalises `httpEndpoint`'s two call forms and checks the arguments. */
export function defineEndpoint(path: string, a: unknown, b?: unknown): EndpointDefinition {
  const handler = (typeof a === "function" ? a : b) as EndpointDefinition["handler"];
  const options = (typeof a === "function" ? {} : (a ?? {})) as EndpointDefinition["options"];
  if (typeof path !== "string" || !(path === "" || path.startsWith("/"))) {
    throw new KilnError("KILN_BAD_ENDPOINT", `Endpoint path must start with "/": ${String(path)}`);
  }
  if (typeof handler !== "function") {
    throw new KilnError("KILN_BAD_ENDPOINT", `Endpoint ${path} needs a handler function`);
  }
  checkCrossOrigin(path, options.crossOrigin);
  for (const method of options.methods ?? []) {
    if (!(HTTP_METHODS as readonly string[]).includes(method)) {
      throw new KilnError("KILN_BAD_ENDPOINT", `Endpoint ${path}: unknown method ${method}`);
    }
  }
  return { path, options, handler };
}

/** The methods an endpoint answers, HEAD included when GET is. */
export function allowedMethods(endpoint: EndpointDefinition): HttpMethod[] {
  const methods = new Set<HttpMethod>(endpoint.options.methods ?? ["GET", "POST"]);
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods];
}
