import { KilnError } from "../../errors.ts";

/**
 * The one-line explanation of a PostgreSQL that cannot be used at start (refused, unknown
 * host, bad role or password, missing database), or null when `error` is something else.
 * A stack trace from deep inside pg tells a newcomer nothing about DATABASE_URL, which is
 * almost always what needs fixing. The URL is shown without its password.
 * @example connectFailure(error, "postgres://me@db:5432/app")
 * // KILN_DATABASE_CONNECT_FAILED: Cannot connect to PostgreSQL at db:5432: connection refused...
 */
export function connectFailure(
  error: unknown,
  url: string,
  defaultUser = "postgres",
): KilnError | null {
  const target = describeUrl(url, defaultUser);
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error as Error | null)?.message ?? String(error);
  const reason = explain(typeof code === "string" ? code : "", message, target);
  if (!reason) return null;
  return new KilnError(
    "KILN_DATABASE_CONNECT_FAILED",
    `Cannot use PostgreSQL at ${target.where} (DATABASE_URL): ${reason}`,
    { cause: error },
  );
}

interface Target {
  where: string;
  host: string;
  port: string;
  user: string;
  database: string;
}

function explain(code: string, message: string, t: Target): string | null {
  switch (code) {
    case "ECONNREFUSED":
      return `connection refused. Is PostgreSQL running and listening on ${t.host} port ${t.port}? Start it, or fix the host and port in DATABASE_URL.`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `host "${t.host}" not found. Fix the host name in DATABASE_URL.`;
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `no answer from ${t.host} port ${t.port}. Check the host, the port and any firewall between them.`;
    case "28000": // invalid_authorization_specification: no such role, or pg_hba refuses it
      return `${message}. Create the role (createuser ${t.user}) or fix the user name in DATABASE_URL.`;
    case "28P01": // invalid_password
      return `${message}. Fix the password in DATABASE_URL.`;
    case "3D000": // invalid_catalog_name
      return `${message}. Create it (createdb -h ${t.host} -p ${t.port} -U ${t.user} ${t.database}) or fix the database name in DATABASE_URL.`;
    case "53300": // too_many_connections
      return `${message}. Lower KILN_PG_POOL_SIZE or raise the server's max_connections.`;
    case "57P03": // cannot_connect_now: starting up
      return `${message}. Try again in a moment.`;
  }
  if (/^timeout exceeded when trying to connect/.test(message)) {
    return `no answer from ${t.host} port ${t.port} within KILN_PG_CONNECT_TIMEOUT_MS. Check the host, the port and any firewall between them.`;
  }
  if (/^Connection terminated/.test(message)) {
    return `the server closed the connection (${message}). Check that ${t.host} port ${t.port} is PostgreSQL.`;
  }
  if (/does not support SSL|SSL/i.test(message) && !code) {
    return `${message}. Fix the sslmode in DATABASE_URL.`;
  }
  return null;
}

function describeUrl(url: string, defaultUser: string): Target {
  try {
    const parsed = new URL(url);
    const host =
      decodeURIComponent(parsed.hostname) || parsed.searchParams.get("host") || "localhost";
    const port = parsed.port || "5432";
    const user = decodeURIComponent(parsed.username) || defaultUser;
    const database = decodeURIComponent(parsed.pathname.slice(1)) || user;
    return { where: `${host}:${port}/${database} as ${user}`, host, port, user, database };
  } catch {
    return { where: "DATABASE_URL", host: "?", port: "?", user: "?", database: "?" };
  }
}
