/**
 * Kiln: write a function, register it as an HTTP endpoint, and it is live — with data tables,
 * users, cookies and sessions built in. This file is the whole public API (re-exports only).
 */
export { type AppConfig, createApp, type KilnApp } from "./app/create-app.ts";
export type { HandlerContext } from "./app/handler-context.ts";
export { type EndpointHandler, httpEndpoint } from "./app/http-endpoint.ts";
export { loadApp } from "./app/load-app.ts";
export { onStart } from "./app/on-start.ts";
export { inTransaction, tables, users } from "./app/views.ts";
export {
  type CookieSetOptions,
  cookies,
  type EncryptedCookies,
} from "./cookies/cookies.ts";
export { type Session, session } from "./cookies/session.ts";
export {
  errorCatalogue,
  HttpError,
  isHttpError,
  isKilnError,
  KilnError,
  type KilnErrorCode,
} from "./errors.ts";
export { type KilnRequest, request } from "./http/context.ts";
export type {
  AuthScheme,
  CredentialCheck,
  EndpointOptions,
  HttpMethod,
  KeywordParams,
  PathParams,
} from "./http/endpoint.ts";
export { HttpResponse, type HttpResponseInit } from "./http/http-response.ts";
export { BlobMedia, type Media, type MediaOptions } from "./http/media.ts";
export type { StandardSchemaV1 } from "./http/standard-schema.ts";
export {
  type CsvOptions,
  type KilnTables,
  q,
  type Row,
  type SearchResult,
  type Table,
  TableError,
  type TablesAccessor,
} from "./tables/index.ts";
export {
  AuthenticationFailed,
  CrossSiteRefused,
  InvalidCredentials,
  TooManyAttempts,
  UserExists,
} from "./users/errors.ts";
export type { NewToken, TokenInfo } from "./users/tokens.ts";
export type { UserColumns, UserRow, Users } from "./users/users.ts";
