import { ConfigError } from "../errors.ts";
import type { KeyTree } from "../runtime/config-keys.ts";

/** What the cookies service needs from an app (kept narrow so it is easy to test). */
export interface CookiesAppInfo {
  name: string;
  secret: string;
  config: { services?: Record<string, unknown> };
  /** The secrets the environment adds (app/resolve-config.ts). */
  settings: {
    cookies: { previousSecrets: readonly string[]; sharedSecrets: readonly string[] };
  };
}

/**
 * The cookie and session settings of an app, from kiln.yaml and the environment (resolved in
 * app/resolve-config.ts):
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

/** Every key of kiln.yaml `services.cookies` and `services.sessions`, for the unknown-key check. */
export const cookiesConfigKeys: KeyTree = {
  sharedSecret: true,
  previousSecrets: true,
  sharedDomain: true,
};
export const sessionsConfigKeys: KeyTree = { idleDays: true, absoluteDays: true };

/** Reads and checks the settings; a bad value is a KILN_BAD_CONFIG naming the key. */
export function readCookiesSettings(app: CookiesAppInfo): CookiesSettings {
  const yaml = readCookiesYaml(app.config.services);
  const fromEnv = app.settings.cookies;
  return {
    appSlug: app.name.replace(/[^A-Za-z0-9_-]/g, "-") || "app",
    localSecrets: [app.secret, ...yaml.previousSecrets, ...fromEnv.previousSecrets],
    sharedSecrets: [...fromEnv.sharedSecrets, ...yaml.sharedSecrets],
    sharedDomain: yaml.sharedDomain,
    sessionIdleSeconds: yaml.idleDays * DAY,
    sessionAbsoluteSeconds: Math.max(yaml.idleDays, yaml.absoluteDays) * DAY,
  };
}

/** What kiln.yaml says about cookies and sessions, checked (the environment adds to it). */
export function readCookiesYaml(services: Record<string, unknown> | undefined) {
  const cookies = section(services?.cookies, "cookies");
  const sessions = section(services?.sessions, "sessions");
  const previousSecrets = secretList(cookies.previousSecrets, ["cookies", "previousSecrets"]);
  const sharedSecrets = secretList(cookies.sharedSecret, ["cookies", "sharedSecret"]);
  const sharedDomain = cookies.sharedDomain;
  if (sharedDomain !== undefined && sharedDomain !== null && !isDomain(sharedDomain)) {
    throw new ConfigError(
      ["services", "cookies", "sharedDomain"],
      "services.cookies.sharedDomain must be a domain name such as example.com",
    );
  }
  return {
    previousSecrets,
    sharedSecrets,
    sharedDomain: typeof sharedDomain === "string" ? sharedDomain : null,
    idleDays: days(sessions.idleDays, DEFAULT_IDLE_DAYS, ["sessions", "idleDays"]),
    absoluteDays: days(sessions.absoluteDays, DEFAULT_ABSOLUTE_DAYS, ["sessions", "absoluteDays"]),
  };
}

function section(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(["services", name], `services.${name} must be a mapping`);
  }
  return value as Record<string, unknown>;
}

function secretList(value: unknown, path: string[]): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const item of list) {
    // 16 characters is a floor against obviously weak secrets, not a strength guarantee.
    if (typeof item !== "string" || item.length < 16) {
      throw new ConfigError(
        ["services", ...path],
        `services.${path.join(".")} must be a string (or a list of strings) of at least 16 characters`,
      );
    }
  }
  return list as string[];
}

function days(value: unknown, fallback: number, path: string[]): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(
      ["services", ...path],
      `services.${path.join(".")} must be a positive number of days`,
    );
  }
  return value;
}

function isDomain(value: unknown): boolean {
  return typeof value === "string" && /^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(value);
}
