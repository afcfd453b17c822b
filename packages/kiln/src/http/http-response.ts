import { KilnError } from "../errors.ts";

const HTTP_RESPONSE = Symbol.for("kiln.HttpResponse");

export interface HttpResponseInit {
  status?: number;
  body?: unknown;
  headers?: Record<string, string | string[]>;
}

/**
 * Full control over the answer: status, headers and a body converted by the same rules as a
 * handler's return value (object → JSON, string → text, Media → bytes, null → empty).
 * @example return new HttpResponse({ status: 201, body: { id }, headers: { location: `/tasks/${id}` } });
 * @example return new HttpResponse({ body: "<h1>Hi</h1>", headers: { "content-type": "text/html" } });
 */
export class HttpResponse {
  status: number;
  body: unknown;
  /** Header names are stored lower-case; set them freely before returning. */
  headers: Record<string, string | string[]>;
  readonly [HTTP_RESPONSE] = true;

  constructor(init: HttpResponseInit | number = {}, body?: unknown) {
    const options = typeof init === "number" ? { status: init, body } : init;
    const status = options.status ?? 200;
    checkStatus(status);
    this.status = status;
    this.body = options.body ?? null;
    this.headers = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      this.headers[name.toLowerCase()] = value;
    }
  }

  /** Adds a raw `Set-Cookie` header (for cookies outside Kiln's encrypted `cookies`). */
  setCookie(name: string, value: string, attributes = "Path=/; HttpOnly; SameSite=Lax"): this {
    const line = `${encodeURIComponent(name)}=${encodeURIComponent(value)}; ${attributes}`;
    const existing = this.headers["set-cookie"];
    this.headers["set-cookie"] =
      existing === undefined
        ? [line]
        : [...(Array.isArray(existing) ? existing : [existing]), line];
    return this;
  }
}

/**
 * A final answer's status is 200..599. Node would write a 1xx as an interim answer and then
 * leave the client waiting for the real one until it timed out.
 */
export function checkStatus(status: number): void {
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new KilnError("KILN_BAD_STATUS", `HttpResponse status must be 200..599, got ${status}`);
  }
}

export function isHttpResponse(value: unknown): value is HttpResponse {
  return typeof value === "object" && value !== null && HTTP_RESPONSE in value;
}
