/** Credentials from an `Authorization: Basic ...` header. */
export interface BasicCredentials {
  username: string;
  password: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads HTTP Basic credentials (RFC 7617). Returns null when the header is absent, is another
 * scheme, or is malformed in any way (bad base64, no colon, not UTF-8, control characters):
 * the caller answers 401, never 500. The username is everything before the first colon, so a
 * password may contain colons.
 * @example parseBasicAuth("Basic YWxpY2VAZXhhbXBsZS5jb206czNjcmV0") // { username: "alice@example.com", password: "s3cret" }
 */
export function parseBasicAuth(header: string | string[] | undefined): BasicCredentials | null {
  if (typeof header !== "string") return null;
  const space = header.indexOf(" ");
  if (space === -1 || header.slice(0, space).toLowerCase() !== "basic") return null;
  const token = header.slice(space + 1).trim();
  if (token.length === 0 || token.length % 4 === 1 || !BASE64.test(token)) return null;
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(token, "base64"));
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon === -1) return null;
  // Control characters (NUL, newlines) are never part of a real credential (RFC 7617 §2).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is exactly what is rejected
  if (/[\x00-\x1f\x7f]/.test(decoded)) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The `WWW-Authenticate` value of a 401: the realm is the app's name. */
export function basicChallenge(realm: string): string {
  const quoted = realm.replace(/[\\"]/g, "\\$&");
  return `Basic realm="${quoted}", charset="UTF-8"`;
}
