const MEDIA = Symbol.for("kiln.Media");

/**
 * Bytes with a content type and, optionally, a file name: what an endpoint returns to send a
 * file, and what `request.body` and uploaded files are.
 * @example return new BlobMedia("image/png", pngBytes, "chart.png");
 */
export interface Media {
  readonly contentType: string;
  readonly name: string | null;
  readonly length: number;
  getBytes(): Buffer;
  getText(): string;
}

/** A Media held in memory. */
export class BlobMedia implements Media {
  readonly contentType: string;
  readonly name: string | null;
  readonly [MEDIA] = true;
  readonly #bytes: Buffer;

  constructor(contentType: string, content: Uint8Array | string, name?: string | null) {
    this.contentType = contentType || "application/octet-stream";
    this.#bytes = typeof content === "string" ? Buffer.from(content, "utf8") : toBuffer(content);
    this.name = name ?? null;
  }

  get length(): number {
    return this.#bytes.length;
  }

  getBytes(): Buffer {
    return this.#bytes;
  }

  getText(): string {
    return this.#bytes.toString("utf8");
  }

  /** Media is not JSON: it is described, never dumped byte by byte into a response. */
  toJSON(): { contentType: string; name: string | null; length: number } {
    return { contentType: this.contentType, name: this.name, length: this.length };
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** True for any Media, including one made by another copy of the kiln module. */
export function isMedia(value: unknown): value is Media {
  if (typeof value !== "object" || value === null) return false;
  if (MEDIA in value) return true;
  const m = value as Partial<Media>;
  return typeof m.contentType === "string" && typeof m.getBytes === "function";
}
