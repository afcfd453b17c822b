import { Busboy } from "@fastify/busboy";
import { HttpError } from "../errors.ts";
import type { RequestContext } from "./context.ts";
import { BlobMedia, type Media } from "./media.ts";
import { paramRecord } from "./params.ts";

/**
 * Most fields in a form body, urlencoded or multipart: a real form has tens, and a body of a
 * million tiny fields would otherwise keep the event loop busy for seconds.
 */
export const MAX_FORM_FIELDS = 1000;

/** Limits on multipart bodies, so a "multipart bomb" is refused instead of parsed. */
const MULTIPART_LIMITS = {
  parts: MAX_FORM_FIELDS,
  fields: MAX_FORM_FIELDS,
  files: 100,
  fieldNameSize: 200,
  fieldSize: 1024 * 1024,
  headerPairs: 100,
  headerSize: 16 * 1024,
};

/**
 * Deepest JSON nesting accepted. V8 parses any depth, but whatever recurses over the value
 * afterwards (JSON.stringify of an echo, a schema validator, structuredClone) overflows the
 * stack somewhere past a few thousand levels: refuse bombs at the door instead. Real payloads
 * stay far below this (serde_json's default is 128).
 */
export const MAX_JSON_DEPTH = 256;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Pipeline stage "parse body": turns the raw bytes Fastify buffered into `request.body`,
 * `bodyJson`, `formParams` and `files`. A malformed JSON or form body is a 400 before the
 * handler runs. A JSON or other body stays available as raw bytes in `request.body`; a form
 * body (urlencoded or multipart) does not: `request.body` is null for it.
 */
export function decodeBody(ctx: RequestContext, raw: Buffer | undefined): void | Promise<void> {
  if (raw === undefined || raw.length === 0) return;
  const contentType = headerString(ctx.headers["content-type"]) ?? "application/octet-stream";
  const mime = (contentType.split(";", 1)[0] ?? "").trim().toLowerCase();
  // A form body is wholly parsed into formParams (and files): request.body stays null, as
  // Fastify's parsed bodies do, rather than hold the urlencoded text or multipart envelope
  // that a handler would otherwise be tempted to parse a second time.
  if (mime === "application/x-www-form-urlencoded") {
    ctx.formParams = parseUrlEncoded(raw);
    return;
  }
  if (mime === "multipart/form-data") return parseMultipart(ctx, contentType, raw); // waits
  ctx.body = new BlobMedia(contentType, raw);
  if (mime === "application/json" || mime.endsWith("+json")) ctx.bodyJson = parseJson(raw);
}

function decodeUtf8(raw: Buffer, what: string): string {
  try {
    return utf8.decode(raw);
  } catch {
    throw new HttpError(400, `The ${what} body is not valid UTF-8`);
  }
}

function parseJson(raw: Buffer): unknown {
  const text = decodeUtf8(raw, "JSON");
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw new HttpError(400, `JSON body is nested too deep (more than ${MAX_JSON_DEPTH} levels)`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `Malformed JSON body: ${(error as Error).message}`);
  }
}

/** True when brackets outside strings nest deeper than `max`: one pass, no recursion. */
export function jsonDepthExceeds(text: string, max: number): boolean {
  if (text.length <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

function parseUrlEncoded(raw: Buffer): Record<string, string> {
  // Fields are counted on the bytes before anything is decoded or parsed: one indexOf per
  // field, so a refusal costs next to nothing. Empty segments ("a=1&&b=2") are no fields,
  // as URLSearchParams sees it.
  let fields = 0;
  for (let start = 0; start <= raw.length; ) {
    let end = raw.indexOf(0x26, start); // "&"
    if (end === -1) end = raw.length;
    if (end > start && ++fields > MAX_FORM_FIELDS) {
      throw new HttpError(413, `Form body refused: more than ${MAX_FORM_FIELDS} fields`);
    }
    start = end + 1;
  }
  const params = paramRecord<string>();
  for (const [name, value] of new URLSearchParams(decodeUtf8(raw, "form"))) params[name] = value;
  return params;
}

function parseMultipart(ctx: RequestContext, contentType: string, raw: Buffer): Promise<void> {
  checkPartHeaders(raw, contentType);
  const fields = paramRecord<string>();
  const files = paramRecord<Media>();
  ctx.formParams = fields;
  ctx.files = files;
  return new Promise((resolve, reject) => {
    let busboy: InstanceType<typeof Busboy>;
    try {
      busboy = new Busboy({ headers: { "content-type": contentType }, limits: MULTIPART_LIMITS });
    } catch (error) {
      reject(new HttpError(400, `Malformed multipart body: ${(error as Error).message}`));
      return;
    }
    const refuse = (why: string) => {
      reject(new HttpError(413, `Multipart body refused: ${why}`));
      busboy.removeAllListeners();
    };
    busboy.on("field", (name, value, _nameTruncated, valueTruncated) => {
      // Busboy cuts an oversized field short and carries on: refuse rather than lose data.
      if (valueTruncated)
        refuse(`field "${name.slice(0, 100)}" is over ${MULTIPART_LIMITS.fieldSize} bytes`);
      else fields[name] = value;
    });
    busboy.on("file", (name, stream, filename, _encoding, mimetype) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const media: Media = new BlobMedia(mimetype, Buffer.concat(chunks), filename || null);
        files[name] = media;
      });
    });
    busboy.on("partsLimit", () => refuse(`more than ${MULTIPART_LIMITS.parts} parts`));
    busboy.on("fieldsLimit", () => refuse(`more than ${MULTIPART_LIMITS.fields} fields`));
    busboy.on("filesLimit", () => refuse(`more than ${MULTIPART_LIMITS.files} files`));
    busboy.on("error", (error: Error) =>
      reject(new HttpError(400, `Malformed multipart body: ${error.message}`)),
    );
    busboy.on("finish", () => resolve());
    busboy.end(raw);
  });
}

/**
 * Busboy truncates an oversized part header, and ignores header lines past its limit, without
 * telling anyone. The body is already in memory, so one scan over the part headers lets Kiln
 * refuse such a body with a clear 413 instead.
 */
function checkPartHeaders(raw: Buffer, contentType: string): void {
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const name = boundary?.[1] ?? boundary?.[2];
  if (!name) return; // busboy reports the missing boundary itself
  const delimiter = Buffer.from(`--${name}`);
  let at = raw.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    const opensPart =
      (at === 0 || (raw[at - 2] === 0x0d && raw[at - 1] === 0x0a)) &&
      raw[start] === 0x0d &&
      raw[start + 1] === 0x0a;
    if (!opensPart) {
      at = raw.indexOf(delimiter, start);
      continue;
    }
    const headersEnd = raw.indexOf("\r\n\r\n", start);
    const end = headersEnd === -1 ? raw.length : headersEnd;
    if (end - start > MULTIPART_LIMITS.headerSize) {
      throw new HttpError(
        413,
        `Multipart body refused: a part header is over ${MULTIPART_LIMITS.headerSize} bytes`,
      );
    }
    let lines = 0;
    for (
      let i = raw.indexOf("\r\n", start + 2);
      i !== -1 && i < end;
      i = raw.indexOf("\r\n", i + 2)
    ) {
      lines++;
    }
    if (lines >= MULTIPART_LIMITS.headerPairs) {
      throw new HttpError(
        413,
        `Multipart body refused: a part header has more than ${MULTIPART_LIMITS.headerPairs} lines`,
      );
    }
    at = raw.indexOf(delimiter, end);
  }
}

export function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
