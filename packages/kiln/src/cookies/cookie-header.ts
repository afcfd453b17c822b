/** Reading `Cookie` and writing `Set-Cookie` headers, for Kiln's own cookies. */

/** Browsers keep a cookie's name and value together up to this many bytes (RFC 6265bis). */
export const BROWSER_COOKIE_LIMIT = 4096;

/** Every value sent under `name` (a browser may send several, for different paths/domains). */
export function cookieValues(header: string | string[] | undefined, name: string): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join("; ") : header;
  const values: string[] = [];
  for (const part of text.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    values.push(unquote(part.slice(eq + 1).trim()));
  }
  return values;
}

/** True when the header may hold a cookie called `name` (a cheap test before parsing). */
export function mayHaveCookie(header: string | string[] | undefined, name: string): boolean {
  if (header === undefined) return false;
  return (Array.isArray(header) ? header.join("; ") : header).includes(`${name}=`);
}

export interface CookieAttributes {
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
  secure: boolean;
  domain?: string | null;
}

/**
 * A `Set-Cookie` line for one of Kiln's cookies: always `Path=/`, `HttpOnly` (scripts cannot
 * read it) and `SameSite=Lax` (browsers do not send it on cross-site subrequests or POSTs),
 * `Secure` when the request came over HTTPS.
 */
export function setCookieLine(name: string, value: string, attributes: CookieAttributes): string {
  let line = `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(attributes.maxAge))}`;
  if (attributes.domain) line += `; Domain=${attributes.domain}`;
  line += "; HttpOnly; SameSite=Lax";
  if (attributes.secure) line += "; Secure";
  return line;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"')
    ? value.slice(1, -1)
    : value;
}
