import { KilnError } from "../errors.ts";
import type { EndpointDefinition, EndpointOptions } from "../http/endpoint.ts";

/**
 * Options every endpoint of the app gets unless it sets its own: kiln.yaml `endpoints:` (or
 * `createApp({ endpoints })`, where functions are allowed too).
 * @example
 * # kiln.yaml: every endpoint needs a user and answers validation errors Rails-style
 * endpoints:
 *   authenticateUsers: true
 *   validationError: { status: 422, shape: fields }
 */
export type EndpointDefaults = Pick<
  EndpointOptions,
  "authenticateUsers" | "requireAuth" | "crossOrigin" | "crossSiteSession" | "validationError"
>;

const KNOWN = [
  "authenticateUsers",
  "requireAuth",
  "crossOrigin",
  "crossSiteSession",
  "validationError",
] as const;

/** Checks the defaults' keys (values are checked with each endpoint's own options). */
export function checkEndpointDefaults(value: unknown): EndpointDefaults {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new KilnError("KILN_BAD_CONFIG", "endpoints must be a mapping of endpoint options");
  }
  for (const key of Object.keys(value)) {
    if (!(KNOWN as readonly string[]).includes(key)) {
      throw new KilnError(
        "KILN_BAD_CONFIG",
        `endpoints.${key} is not an endpoint option that can have an app-wide default (known: ${KNOWN.join(", ")})`,
      );
    }
  }
  for (const key of ["authenticateUsers", "crossSiteSession"] as const) {
    const flag = (value as Record<string, unknown>)[key];
    if (flag !== undefined && typeof flag !== "boolean") {
      throw new KilnError("KILN_BAD_CONFIG", `endpoints.${key} must be true or false`);
    }
  }
  return value as EndpointDefaults;
}

/**
 * The endpoints with the defaults filled in: an endpoint's own option wins. `authenticateUsers`
 * and `requireAuth` go together: an endpoint that sets either (`authenticateUsers: false` for a
 * public login endpoint) takes neither default.
 */
export function withDefaults(
  endpoints: readonly EndpointDefinition[],
  defaults: EndpointDefaults,
): EndpointDefinition[] {
  const keys = Object.keys(defaults) as (keyof EndpointDefaults)[];
  if (keys.length === 0) return [...endpoints];
  return endpoints.map((endpoint) => {
    const own = endpoint.options;
    const ownAuth = own.authenticateUsers !== undefined || own.requireAuth !== undefined;
    const options: Record<string, unknown> = { ...own };
    for (const key of keys) {
      const auth = key === "authenticateUsers" || key === "requireAuth";
      if (own[key] === undefined && !(auth && ownAuth)) options[key] = defaults[key];
    }
    return { ...endpoint, options: options as EndpointDefinition["options"] };
  });
}
