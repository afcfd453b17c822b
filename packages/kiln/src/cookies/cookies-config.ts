import { KilnError } from "../errors.ts";

/** What the cookies service needs from an app (kept narrow so it is easy to test). */
export interface CookiesAppInfo {
  name: string;
  secret: string;
  config: { services?: Record<string, unknown> };
}

/**
 * The cookie and session settings of an app, from kiln.yaml and the environment:
 *
 * ```yaml
 * services:
 *   cookies:
 *     sharedSecret: ...         # or a list, newest first; env KILN_SHARED_SECRET (comma-separated)
 *     previousSecrets: [...]    # older app secrets still accepted; env KILN_PREVIOUS_SECRETS
 *     sharedDomain: example.com # Domain= of shared cookies, so sibling subdomains see them
 *   sessions:
 *     idleDays: 14              # a session unused this long ends
 *     absoluteDays: 30          # and every session ends this long after it began
 * ```
 */
export interface CookiesSettings {
  /** Browser-safe slug of the app name, part of the local cookie and session cookie names. */
  appSlug: string;
  /** The app secret first, then previous ones (rotation). */
  localSecrets: string[];
  /** Newest first; empty when no shared secret is configured. */
  sharedSecrets: string[];
  sharedDomain: string | null;
  sessionIdleSeconds: number;
  sessionAbsoluteSeconds: number;
}

const DAY = 86_400;
export const DEFAULT_IDLE_DAYS = 14;
export const DEFAULT_ABSOLUTE_DAYS = 30;

/** Reads and checks the settings; a bad value is a KILN_BAD_CONFIG naming the key. */
export function readCookiesSettings(
  app: CookiesAppInfo,
  env: NodeJS.ProcessEnv = process.env,
): CookiesSettings {
  const cookies = section(app.config.services?.cookies, "services.cookies");
  const sessions = section(app.config.services?.sessions, "services.sessions");
  const previous = secretList(cookies.previousSecrets, "services.cookies.previousSecrets");
  const shared = secretList(cookies.sharedSecret, "services.cookies.sharedSecret");
  const sharedDomain = cookies.sharedDomain;
  if (sharedDomain !== undefined && !isDomain(sharedDomain)) {
    throw new KilnError(
      "KILN_BAD_CONFIG",
      "services.cookies.sharedDomain must be a domain name such as example.com",
    );
  }
  const idle = days(sessions.idleDays, DEFAULT_IDLE_DAYS, "services.sessions.idleDays");
  const absolute = days(
    sessions.absoluteDays,
    DEFAULT_ABSOLUTE_DAYS,
    "services.sessions.absoluteDays",
  );
  return {
    appSlug: app.name.replace(/[^A-Za-z0-9_-]/g, "-") || "app",
    localSecrets: [app.secret, ...previous, ...splitEnv(env.KILN_PREVIOUS_SECRETS)],
    sharedSecrets: [...splitEnv(env.KILN_SHARED_SECRET), ...shared],
    sharedDomain: typeof sharedDomain === "string" ? sharedDomain : null,
    sessionIdleSeconds: idle * DAY,
    sessionAbsoluteSeconds: Math.max(idle, absolute) * DAY,
  };
}

function section(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new KilnError("KILN_BAD_CONFIG", `${where} must be a mapping`);
  }
  return value as Record<string, unknown>;
}

function secretList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const item of list) {
    // 16 characters is a floor against obviously weak secrets, not a strength guarantee.
    if (typeof item !== "string" || item.length < 16) {
      throw new KilnError(
        "KILN_BAD_CONFIG",
        `${where} must be a string (or a list of strings) of at least 16 characters`,
      );
    }
  }
  return list as string[];
}

function splitEnv(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function days(value: unknown, fallback: number, where: string): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new KilnError("KILN_BAD_CONFIG", `${where} must be a positive number of days`);
  }
  return value;
}

function isDomain(value: unknown): boolean {
  return typeof value === "string" && /^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(value);
}
