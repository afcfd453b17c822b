const MEDIA = Symbol.for("kiln.Media");

/**
 * Bytes with a content type and, optionally, a file name: what an endpoint returns to send a
 * file, and what `request.body` and uploaded files are.
 *
 * Returned from an endpoint, a Media is sent as an attachment (`Content-Disposition:
 * attachment`): a browser that navigates to it downloads it rather than rendering it as a
 * page of the app, so an uploaded `text/html` or SVG file served back cannot run script in
 * the app's origin. `<img>`, `<video>` and other embeds show attachments all the same. Mark
 * media the app itself vouches for `inline` to have browsers display it on navigation.
 * @example return new BlobMedia("image/png", pngBytes, "chart.png");
 * @example return new BlobMedia("application/pdf", invoice, "invoice.pdf", { inline: true });
 */
export interface Media {
  readonly contentType: string;
  readonly name: string | null;
  /** Shown in the browser on navigation rather than downloaded; false unless set. */
  readonly inline?: boolean;
  readonly length: number;
  getBytes(): Buffer;
  getText(): string;
}

/** Options of a BlobMedia. */
export interface MediaOptions {
  /**
   * Let browsers display it when navigated to (`Content-Disposition: inline`) instead of
   * downloading it. Only for content the app vouches for: never for an upload of an active
   * type (HTML, SVG, XML) from a user.
   */
  inline?: boolean;
}

/**
 * A Media held in memory.
 * @example new BlobMedia("text/plain", "hello", "hello.txt") // downloaded as hello.txt
 * @example new BlobMedia("image/png", bytes, null, { inline: true }) // shown when opened
 */
export class BlobMedia implements Media {
  readonly contentType: string;
  readonly name: string | null;
  readonly inline: boolean;
  readonly [MEDIA] = true;
  readonly #bytes: Buffer;

  constructor(
    contentType: string,
    content: Uint8Array | string,
    name?: string | null,
    options: MediaOptions = {},
  ) {
    this.contentType = contentType || "application/octet-stream";
    this.#bytes = typeof content === "string" ? Buffer.from(content, "utf8") : toBuffer(content);
    this.name = name ?? null;
    this.inline = options.inline === true;
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
