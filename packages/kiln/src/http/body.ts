import { Busboy } from "@fastify/busboy";
import { HttpError } from "../errors.ts";
import type { RequestContext } from "./context.ts";
import { BlobMedia, type Media } from "./media.ts";

/** Limits on multipart bodies, so a "multipart bomb" is refused instead of parsed. */
const MULTIPART_LIMITS = {
  parts: 1000,
  fields: 1000,
  files: 100,
  fieldNameSize: 200,
  fieldSize: 1024 * 1024,
  headerPairs: 100,
  headerSize: 16 * 1024,
};

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Pipeline stage "parse body": turns the raw bytes Fastify buffered into `request.body`,
 * `bodyJson`, `formParams` and `files`. A malformed JSON or form body is a 400 before the
 * handler runs; the raw bytes stay available either way.
 */
export async function decodeBody(ctx: RequestContext, raw: Buffer | undefined): Promise<void> {
  if (raw === undefined || raw.length === 0) return;
  const contentType = headerString(ctx.raw.headers["content-type"]) ?? "application/octet-stream";
  ctx.body = new BlobMedia(contentType, raw);
  const mime = (contentType.split(";", 1)[0] ?? "").trim().toLowerCase();
  if (mime === "application/json" || mime.endsWith("+json")) {
    ctx.bodyJson = parseJson(raw);
  } else if (mime === "application/x-www-form-urlencoded") {
    ctx.formParams = parseUrlEncoded(raw);
  } else if (mime === "multipart/form-data") {
    await parseMultipart(ctx, contentType, raw);
  }
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
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `Malformed JSON body: ${(error as Error).message}`);
  }
}

function parseUrlEncoded(raw: Buffer): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(decodeUtf8(raw, "form"))) params[name] = value;
  return params;
}

function parseMultipart(ctx: RequestContext, contentType: string, raw: Buffer): Promise<void> {
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
    busboy.on("field", (name, value) => {
      ctx.formParams[name] = value;
    });
    busboy.on("file", (name, stream, filename, _encoding, mimetype) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const media: Media = new BlobMedia(mimetype, Buffer.concat(chunks), filename || null);
        ctx.files[name] = media;
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

export function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
