import { KilnError } from "../errors.ts";
import type { RequestHeaders } from "./context.ts";
import type { EndpointDefinition } from "./endpoint.ts";

/** Where a crossOrigin function that throws is reported. */
export interface ErrorLog {
  error(details: object, message: string): void;
}

/**
 * An endpoint's `crossOrigin`: which other origins may read its answers, and which of them
 * may do so as the browser's user.
 *
 * - `true`: any origin may read, *without* credentials (`Access-Control-Allow-Origin: *`);
 *   their requests never run as the browser's user.
 * - a list of origins (`["https://app.example.com"]`): those origins may read with
 *   credentials, and their requests run as the browser's user (session, cookies, remembered
 *   Basic credentials). Other origins get no CORS header.
 * - a function `(origin) => boolean`: decides per origin, like a list, asked at most once per
 *   request. It must be synchronous; one that throws counts as "no" (and is logged).
 */
export type CrossOriginOption = boolean | readonly string[] | ((origin: string) => boolean);

/** How an endpoint treats other origins, settled once per endpoint. */
export interface OriginPolicy {
  /** `crossOrigin: true`: every origin may read, none with credentials. */
  readonly anyWithoutCredentials: boolean;
  /**
   * True when `origin` (normalised) may read with credentials and act as the user. `request`
   * is any object standing for the request (its context): the answer is kept per request.
   */
  trusts(origin: string, request: object, log?: ErrorLog): boolean;
}

const NOBODY: OriginPolicy = { anyWithoutCredentials: false, trusts: () => false };
const ANYONE: OriginPolicy = { anyWithoutCredentials: true, trusts: () => false };
const policies = new WeakMap<EndpointDefinition, OriginPolicy>();

/** The endpoint's policy (checked when the endpoint was defined, see `checkCrossOrigin`). */
export function originPolicy(endpoint: EndpointDefinition): OriginPolicy {
  let policy = policies.get(endpoint);
  if (!policy) {
    policy = compile(endpoint.options.crossOrigin);
    policies.set(endpoint, policy);
  }
  return policy;
}

function compile(option: CrossOriginOption | undefined): OriginPolicy {
  if (option === true) return ANYONE;
  if (typeof option === "function") {
    // The answer for each request, asked once: CORS and the XSRF rule both need it, and the
    // app's function may be slow, counted or logged (and must not answer twice differently).
    const answers = new WeakMap<object, { origin: string; trusted: boolean }>();
    return {
      anyWithoutCredentials: false,
      trusts(origin, request, log) {
        const known = answers.get(request);
        if (known?.origin === origin) return known.trusted;
        let trusted: boolean;
        try {
          trusted = option(origin) === true;
        } catch (error) {
          // Failing closed: no credentials, no identity. Logged, since it is the app's bug.
          log?.error({ err: error }, "crossOrigin function threw; origin treated as not listed");
          trusted = false;
        }
        answers.set(request, { origin, trusted });
        return trusted;
      },
    };
  }
  if (Array.isArray(option)) {
    const listed = new Set(option.map((o) => normaliseOrigin(o) as string));
    return { anyWithoutCredentials: false, trusts: (origin) => listed.has(origin) };
  }
  return NOBODY;
}

/**
 * Checks `crossOrigin` when an endpoint is defined, so a typo (`"https://app.example.com/"`
 * with a path, `"*"`, a bare host name) is an error at start, not a silent refusal later.
 */
export function checkCrossOrigin(path: string, option: unknown): void {
  if (option === undefined || typeof option === "boolean" || typeof option === "function") return;
  if (!Array.isArray(option)) {
    throw new KilnError(
      "KILN_BAD_ENDPOINT",
      `Endpoint ${path}: crossOrigin must be true, false, a list of origins or a function (origin) => boolean`,
    );
  }
  for (const entry of option) {
    if (normaliseOrigin(entry) === null) {
      throw new KilnError(
        "KILN_BAD_ENDPOINT",
        `Endpoint ${path}: crossOrigin entry ${JSON.stringify(entry)} is not an origin like "https://app.example.com" or "http://localhost:5173"${entry === "*" ? " (for any origin without credentials, write crossOrigin: true)" : ""}`,
      );
    }
  }
}

/** `scheme://host[:port]` of an http(s) origin written in the list, or null when it is not one. */
function normaliseOrigin(value: unknown): string | null {
  if (typeof value !== "string") return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.username || url.password || url.search || url.hash) return null;
  if (url.pathname !== "/") return null;
  return url.origin;
}

/**
 * The origin of the page that made this request, as the browser names it: `Origin`, or
 * failing that `Referer`. Null when neither names a real origin (absent, "null", garbage).
 */
export function requestOrigin(headers: RequestHeaders): string | null {
  const named = header(headers, "origin") ?? header(headers, "referer");
  return named === undefined ? null : originOf(named);
}

/** The normalised origin of a URL (`null` for "null", garbage or opaque origins). */
export function originOf(url: string): string | null {
  try {
    const origin = new URL(url).origin;
    return origin === "null" ? null : origin;
  } catch {
    return null;
  }
}

export function header(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === "string" ? value : undefined;
}
