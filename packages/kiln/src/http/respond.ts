import type { FastifyReply } from "fastify";
import { checkStatus, isHttpResponse } from "./http-response.ts";
import { isMedia } from "./media.ts";
import type { FastifyContext } from "./request-context.ts";

const JSON_TYPE = "application/json; charset=utf-8";
const TEXT_TYPE = "text/plain; charset=utf-8";

/**
 * Pipeline stage "convert the result": a handler's return value becomes the response.
 * Objects and arrays → JSON (Date → ISO string via its toJSON, a Row → its fields and `id`
 * via its toJSON); string → text; Media → bytes with its type, an attachment unless marked
 * inline (see Media); null/undefined → empty 200;
 * HttpResponse → its status and headers, its body converted by these same rules.
 *
 * Every answer says `nosniff` (a browser must never guess a type that renders, text/html,
 * from bytes the app meant as data), and one made for a user (`request.user` set) is not kept
 * by shared caches.
 */
export function sendResult(ctx: FastifyContext): FastifyReply {
  const { reply, result } = ctx;
  // The context's status stands unless an HttpResponse says otherwise: the error path sets it
  // (400, 404, 500) before calling here, and must not be turned back into a 200.
  let status = ctx.status;
  let body = result;
  let headers: Record<string, string | string[]> | null = null;
  if (isHttpResponse(result)) {
    status = result.status;
    checkStatus(status); // it may have been changed after construction
    body = result.body;
    headers = result.headers;
  }
  if (status !== 200) reply.code(status);
  reply.header("x-content-type-options", "nosniff");
  if (ctx.user !== null && ctx.user !== undefined) reply.header("cache-control", "no-store");
  const added = ctx.addedHeaders;
  if (added) reply.headers(added);
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
    if (!headers?.["content-disposition"]) {
      reply.header("content-disposition", contentDisposition(body.name, body.inline === true));
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

/**
 * `attachment` (or `inline`), with `filename="..."` and an RFC 5987 `filename*` for names
 * that are not plain ASCII.
 */
function contentDisposition(name: string | null, inline: boolean): string {
  const type = inline ? "inline" : "attachment";
  if (!name) return type;
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
