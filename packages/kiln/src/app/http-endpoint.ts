import type { EndpointOptions } from "../http/endpoint.ts";
import { defineEndpoint } from "../http/endpoint.ts";
import type { StandardSchemaV1 } from "../http/standard-schema.ts";
import type { HandlerContext, HandlerParams } from "./handler-context.ts";
import { registrationTarget } from "./registration.ts";

type Schema = StandardSchemaV1 | undefined;

/**
 * An endpoint's handler: the keyword parameters (form, query and URL merged, validated by the
 * schemas), and the request's context (`body`, `query`, `params`, `user`, `tables`, ...).
 */
export type EndpointHandler<
  Path extends string,
  Body extends Schema = undefined,
  Query extends Schema = undefined,
  Params extends Schema = undefined,
  Auth extends boolean | undefined = undefined,
> = (
  params: HandlerParams<Path, Query, Params>,
  context: HandlerContext<Path, Body, Query, Params, Auth>,
) => unknown;

/** `httpEndpoint`'s two call forms, for the top-level function and `app.httpEndpoint`. */
export interface RegisterEndpoint {
  <Path extends string>(path: Path, handler: EndpointHandler<Path>): void;
  <
    Path extends string,
    Body extends Schema = undefined,
    Query extends Schema = undefined,
    Params extends Schema = undefined,
    Auth extends boolean | undefined = undefined,
  >(
    path: Path,
    options: EndpointOptions<Body, Query, Params, Auth>,
    handler: EndpointHandler<Path, Body, Query, Params, Auth>,
  ): void;
}

/**
 * Declares an HTTP endpoint of the app whose folder is loading: call it at the top level of a
 * module in `server/` (loadApp and `kiln start` import them). Anywhere else it throws, since
 * no app would serve it: `app.httpEndpoint` registers on an app object directly. The path is
 * relative to the API prefix (`/_/api` unless kiln.yaml says otherwise). A path may have one
 * registration per method.
 * @example
 * httpEndpoint("/tasks/:id", { methods: ["GET"], authenticateUsers: true }, (_, { params, user }) =>
 *   tables.tasks.get({ owner: user, id: params.id }));
 */
export const httpEndpoint: RegisterEndpoint = (path: string, a: unknown, b?: unknown): void => {
  const endpoint = defineEndpoint(path, a, b);
  registrationTarget("httpEndpoint", JSON.stringify(path)).endpoints.push(endpoint);
};
