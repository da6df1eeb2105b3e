/**
 * @tessera/http: the HTTP plumbing every Tessera service shares (Hono, zod, pino).
 *
 * - {@link createService}: a Hono app with request ids, per-request loggers, a body limit and problem errors.
 * - {@link serveHttps}: serve it over TLS 1.3/1.2 (AEAD only).
 * - {@link readJson}: request bodies validated by zod; {@link ProblemError} / {@link problemResponse}: RFC 9457.
 * - {@link bearerAuth}, {@link requireGroups}, {@link oidcVerifier}: who is calling, and may they.
 * - {@link createLogger}: pino with secrets redacted; {@link parseConfig}: frozen, validated configuration;
 *   {@link loadServiceConfig}: a service's flags over its environment over its JSON file, with the common field types.
 * - {@link openApiDocument}: OpenAPI 3.1 from the routes' schemas; {@link sseStream}: server-sent events.
 *
 * @module
 */
export { BearerTokenError, ConfigError, ProblemError, type BearerTokenErrorCode } from "./errors.ts";
export { PROBLEM_CONTENT_TYPE, problemCodeForStatus, problemResponse, type ProblemInit } from "./problem.ts";
export { createLogger, REDACTED_FIELDS, type CreateLoggerOptions, type Logger } from "./logger.ts";
export { createService, DEFAULT_BODY_LIMIT, type CreateServiceOptions, type ServiceEnv } from "./service.ts";
export { readJson } from "./read_json.ts";
export { serveHttps, serveHttpsFirst, TLS12_CIPHERS, type DeferredHttpsService, type HttpsService, type ServeHttpsOptions } from "./serve_https.ts";
export { openApiDocument, type ApiRoute, type OpenApiObject } from "./openapi.ts";
export { bearerAuth, requireGroups, type BearerAuthOptions, type Principal, type TokenVerifier } from "./auth.ts";
export { fetchWithCa, oidcVerifier, type OidcVerifierOptions } from "./oidc.ts";
export { parseConfig, type DeepReadonly } from "./config.ts";
export {
  boundPublicUrl,
  defaultPublicUrl,
  HttpsUrl,
  ListenAddress,
  loadServiceConfig,
  LogLevel,
  PostgresUrl,
  readPemField,
  resolveServiceConfig,
  serviceConfigFields,
  serviceConfigSchema,
  withBoundPort,
  type ConfigFields,
  type RawServiceConfig,
  type ServiceConfig,
  type LoadedConfig,
  type LoadServiceConfigOptions,
} from "./service_config.ts";
export { sseStream, type SseStreamOptions } from "./sse.ts";
export { runService, type LogLevelName, type RunServiceOptions, type StartedService } from "./run_service.ts";
export { HttpsJsonError, httpsJson, type HttpsJsonErrorCode, type HttpsJsonOptions, type HttpsJsonResponse } from "./https_json.ts";
