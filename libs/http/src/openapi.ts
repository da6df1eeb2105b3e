/**
 * OpenAPI 3.1 documents from the zod schemas that validate the routes.
 * @module
 */
import { z } from "zod";

/** One operation of {@link openApiDocument}. */
export interface ApiRoute {
  /** HTTP method (any case). */
  readonly method: string;
  /** Hono-style path: `/api/v1/hosts/:host` (becomes `/api/v1/hosts/{host}`). */
  readonly path: string;
  /** One-line summary. */
  readonly summary: string;
  /** The JSON request body's schema. */
  readonly request?: z.ZodType;
  /** By status: a JSON body's schema, or a description (error statuses get the problem document). */
  readonly responses: Record<number, z.ZodType | string>;
  /** Grouping tags. */
  readonly tags?: readonly string[];
  /** False for the routes that need no bearer token (default true: bearer required). */
  readonly auth?: boolean;
}

/** A JSON object (an OpenAPI document). */
export type OpenApiObject = Record<string, unknown>;

const PROBLEM_SCHEMA = {
  type: "object",
  required: ["type", "title", "status", "detail"],
  properties: {
    type: { type: "string", description: "urn:tessera:problem:<code>" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
  },
  additionalProperties: true,
};

function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

/**
 * An OpenAPI 3.1 document: each route's request and response schemas converted with `z.toJSONSchema`
 * (JSON Schema 2020-12, which OpenAPI 3.1 uses as is), path parameters declared, errors as
 * `application/problem+json`, and a bearer security scheme.
 *
 * @example
 * ```ts
 * const doc = openApiDocument({ title: "attestd", version: "1" }, [
 *   { method: "get", path: "/api/v1/hosts/:host", summary: "One host", responses: { 200: Host, 404: "no such host" } },
 * ]);
 * app.get("/api/v1/openapi.json", (c) => c.json(doc));
 * ```
 */
export function openApiDocument(info: { title: string; version: string; description?: string }, routes: readonly ApiRoute[]): OpenApiObject {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const params: string[] = [];
    const path = r.path.replace(/:([A-Za-z_][\w]*)/g, (_m, name: string) => {
      params.push(name);
      return `{${name}}`;
    });
    const responses: Record<string, unknown> = {};
    for (const [status, v] of Object.entries(r.responses)) {
      const code = Number(status);
      if (typeof v === "string") {
        responses[status] = code >= 400 ? { description: v, content: { "application/problem+json": { schema: PROBLEM_SCHEMA } } } : { description: v };
      } else {
        responses[status] = { description: v.description ?? `HTTP ${status}`, content: { "application/json": { schema: jsonSchema(v, "output") } } };
      }
    }
    const op: Record<string, unknown> = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
      ...(r.tags ? { tags: [...r.tags] } : {}),
      ...(params.length ? { parameters: params.map((name) => ({ name, in: "path", required: true, schema: { type: "string" } })) } : {}),
      ...(r.request ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(r.request, "input") } } } } : {}),
      responses,
      ...(r.auth === false ? { security: [] } : {}),
    };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: "3.1.0",
    info: { title: info.title, version: info.version, ...(info.description ? { description: info.description } : {}) },
    paths,
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    security: [{ bearer: [] }],
  };
}
