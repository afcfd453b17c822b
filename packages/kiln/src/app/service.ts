import type { FastifyInstance } from "fastify";
import type { CookiesService } from "../cookies/cookies-service.ts";
import type { EndpointDefinition } from "../http/endpoint.ts";
import type { PipelineFeature } from "../http/pipeline.ts";
import type { TablesService } from "../tables/service.ts";
import type { UsersService } from "../users/users-service.ts";
import type { KilnApp } from "./create-app.ts";

/**
 * A built-in capability of an app (data tables, users, cookies and sessions, CORS). Services
 * start in order when the app gets ready, may take part in requests through pipeline
 * features, and are closed in reverse order.
 */
export interface KilnService {
  readonly name: string;
  readonly features?: readonly PipelineFeature[];
  /** Extra routes the service answers itself (CORS preflights, say). */
  extendRoutes?(server: FastifyInstance, endpoints: readonly EndpointDefinition[]): void;
  /** Part of `GET /_/health`: false makes it a 503. */
  healthy?(): Promise<boolean>;
  close?(): Promise<void>;
}

/** Starts a service for an app, or returns null when the app does not use it. */
export type ServiceFactory<S extends KilnService = KilnService> = (
  app: KilnApp,
) => Promise<S | null>;

/**
 * An app's started services, each under its own typed field: a service reaches another one
 * (users need the tables) by name without a string lookup or a cast. A field is undefined
 * before `app.ready()` and after `app.close()`.
 */
export interface AppServices {
  readonly tables?: TablesService;
  readonly cookies?: CookiesService;
  readonly users?: UsersService;
}
