import type { PipelineFeature } from "../http/pipeline.ts";
import type { KilnApp } from "./create-app.ts";

/**
 * A built-in capability of an app (data tables, users, cookies and sessions, CORS). Services
 * start in order when the app gets ready, may take part in requests through pipeline
 * features, and are closed in reverse order.
 */
export interface KilnService {
  readonly name: string;
  readonly features?: readonly PipelineFeature[];
  /** Part of `GET /_/health`: false makes it a 503. */
  healthy?(): Promise<boolean>;
  close?(): Promise<void>;
}

/** Starts a service for an app, or returns null when the app does not use it. */
export type ServiceFactory = (app: KilnApp) => Promise<KilnService | null>;
