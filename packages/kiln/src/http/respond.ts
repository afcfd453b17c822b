import type { FastifyReply } from "fastify";
import { checkStatus, isHttpResponse } from "./http-response.ts";
import { isMedia } from "./media.ts";

const JSON_TYPE = "application/json; charset=utf-8";
const TEXT_TYPE = "text/plain; charset=utf-8";

/**
 * Pipeline stage "convert the result": a handler's return value becomes the response.
 * Objects and arrays → JSON (Date → ISO string via its toJSON, a Row → its fields and `id`
 * via its toJSON); string → text; Media → bytes with its type; null/undefined → empty 200;
 * HttpResponse → its status and headers, its body converted by these same rules.
 */
export function sendResult(
  reply: FastifyReply,
  result: unknown,
  extraHeaders: Record<string, string | string[]> | null,
): FastifyReply {
  // The status already on the reply stands unless an HttpResponse says otherwise: the error
  // path sets it (400, 404, 500) before calling here, and must not be turned back into a 200.
  let status = reply.statusCode;
  let body = result;
  let headers: Record<string, string | string[]> | null = null;
  if (isHttpResponse(result)) {
    status = result.status;
    checkStatus(status); // it may have been changed after construction
    body = result.body;
    headers = result.headers;
  }
  reply.code(status);
  if (extraHeaders) reply.headers(extraHeaders);
  if (headers) {
    for (const [name, value] of Object.entries(headers)) {
      if (name === "set-cookie") appendSetCookie(reply, value);
      else reply.header(name, value);
    }
  }
  const userType = headers?.["content-type"];
  if (body === null || body === undefined) return reply.send();
  if (typeof body === "string") {
    if (!userType) reply.header("content-type", TEXT_TYPE);
    return reply.send(body);
  }
  if (isMedia(body)) {
    if (!userType) reply.header("content-type", body.contentType);
    if (body.name && !headers?.["content-disposition"]) {
      reply.header("content-disposition", contentDisposition(body.name));
    }
    return reply.send(body.getBytes());
  }
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    if (!userType) reply.header("content-type", "application/octet-stream");
    return reply.send(Buffer.from(body));
  }
  if (!userType) reply.header("content-type", JSON_TYPE);
  return reply.send(JSON.stringify(body));
}

/** Fastify appends to an existing `set-cookie` header itself (so stages' cookies are kept). */
function appendSetCookie(reply: FastifyReply, value: string | string[]): void {
  reply.header("set-cookie", value);
}

/** `attachment; filename="..."` with an RFC 5987 fallback for names that are not plain ASCII. */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
