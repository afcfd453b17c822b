import { BlobMedia, type Media } from "../http/media.ts";

/**
 * How a `media` column is stored, the same on every backend: one binary value holding a
 * 4-byte header length, a small JSON header (content type, name), then the bytes. One column
 * per media value keeps migrations and row loading as simple as for any other type.
 */
export function encodeMedia(media: Media): Buffer {
  const header = Buffer.from(JSON.stringify({ t: media.contentType, n: media.name }), "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(header.length);
  return Buffer.concat([length, header, media.getBytes()]);
}

export function decodeMedia(stored: Uint8Array): Media {
  const buffer = Buffer.isBuffer(stored)
    ? stored
    : Buffer.from(stored.buffer, stored.byteOffset, stored.length);
  const headerLength = buffer.readUInt32BE(0);
  const header = JSON.parse(buffer.subarray(4, 4 + headerLength).toString("utf8")) as {
    t: string;
    n: string | null;
  };
  return new BlobMedia(header.t, buffer.subarray(4 + headerLength), header.n);
}
