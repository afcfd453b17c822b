import { isIP } from "node:net";

/**
 * True when `host` names the loopback interface: `localhost`, 127.0.0.0/8, `::1` (with or
 * without brackets, and as an IPv4-mapped IPv6 address). Only this machine can reach it.
 * @example isLoopbackHost("127.0.0.1") // true
 * @example isLoopbackHost("0.0.0.0") // false: every interface
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (name === "::1") return true;
  return /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * The warning for serving plain HTTP on an address other machines reach, without a proxy
 * (`trustProxy`) that would terminate TLS in front: Chromium sends no `Sec-Fetch-Site` on
 * plain HTTP to a host that is not loopback, so one of the signals Kiln's XSRF rule reads is
 * missing (a cross-site GET without a Referer then runs in the victim's session), and
 * passwords and cookies cross the network in the clear. Null when there is nothing to say.
 */
export function plainHttpWarning(host: string, trustProxy: boolean): string | null {
  if (trustProxy || isLoopbackHost(host)) return null;
  return `Serving plain HTTP on ${host}, which other machines can reach, without trustProxy: browsers send passwords and cookies in the clear and no Sec-Fetch-Site header, so a cross-site GET without a Referer runs in the victim's session. Put a TLS-terminating proxy in front and set trustProxy (see docs/security.md)`;
}

/** The host name of a `Host` header: without its port, without IPv6 brackets, lower case. */
export function hostName(header: string): string {
  const value = header.trim().toLowerCase();
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    return value.slice(1, end === -1 ? undefined : end);
  }
  const colon = value.indexOf(":");
  return colon === -1 || colon !== value.lastIndexOf(":") ? value : value.slice(0, colon);
}

/**
 * Whether a request's `Host` is one that a development server should answer: a loopback
 * name, the host it was told to serve, or (when serving every interface) an IP address. A
 * DNS-rebinding page (attacker.example, resolving to 127.0.0.1) reaches the server with its
 * own name in `Host`, and its requests are same-origin to the browser: the name is what tells
 * them apart. An IP address in `Host` cannot be rebound (its origin is that address).
 * A request without `Host` (HTTP/1.0, no browser) is answered.
 */
export function hostAllowed(header: string | undefined, servedHost: string): boolean {
  if (header === undefined || header === "") return true;
  const name = hostName(header);
  if (isLoopbackHost(name)) return true;
  const served = servedHost.replace(/^\[|\]$/g, "").toLowerCase();
  if (name === served) return true;
  const everywhere = served === "0.0.0.0" || served === "::";
  return everywhere && isIP(name) !== 0;
}
