import type { PipelineFeature } from "./pipeline.ts";

/**
 * A built-in capability of an app (data tables, users, cookies and sessions, CORS). Services
 * start in order when the app gets ready, may take part in requests through pipeline
 * features, and are closed in reverse order. Each service's start function says what it needs
 * of the app in a type of its own (the app object satisfies them all), so that no capability
 * folder depends on app/.
 */
export interface KilnService {
  readonly name: string;
  readonly features?: readonly PipelineFeature[];
  /** Part of `GET /_/health`: false makes it a 503. */
  healthy?(): Promise<boolean>;
  close?(): Promise<void>;
}
