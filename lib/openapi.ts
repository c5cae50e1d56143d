import type { PgTable, TableConfig } from "drizzle-orm/pg-core";
import { createSelectSchema } from "drizzle-zod";
import { z } from "zod";
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from "zod-openapi";
import { errorStatus } from "./http/errors";
import { resources } from "./queries/resources";

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate requests (query
 * parameters) and from the tables the rows come from. Later endpoints add their operations here.
 */
const errorEnvelope = z
  .object({
    success: z.literal(false),
    error: z.object({
      code: z.enum(Object.keys(errorStatus) as [keyof typeof errorStatus, ...(keyof typeof errorStatus)[]]),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: "Error" });

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: errorEnvelope } },
});

const userId = z.uuid().meta({ description: "Must be the session's own user id" });
const timestamp = z.iso.datetime({ offset: true });

function rowSchema(table: PgTable, id: string) {
  const schema = createSelectSchema(table as PgTable<TableConfig>) as unknown as z.ZodObject;
  const timestamps = Object.entries(schema.shape)
    .filter(([name]) => name.endsWith("_at") || name === "start_time")
    .map(([name, field]) => [name, field.safeParse(null).success ? timestamp.nullable() : timestamp]);
  return schema.extend(Object.fromEntries(timestamps)).meta({ id });
}

const rowIds: Record<string, string> = {
  tasks: "AgentTask",
  leads: "Lead",
  insights: "ProductInsight",
  campaigns: "Campaign",
  alerts: "Alert",
};

function listOperation(resource: (typeof resources)[number]): ZodOpenApiOperationObject {
  return {
    operationId: `list_${resource.name}`,
    summary: resource.summary,
    tags: ["Queries"],
    security: [{ supabaseSession: [] }],
    requestParams: { path: z.object({ user_id: userId }), query: resource.query },
    responses: {
      200: {
        description: "One page of rows",
        content: {
          "application/json": {
            schema: z.object({
              success: z.literal(true),
              data: z.array(rowSchema(resource.table, rowIds[resource.name] ?? resource.name)),
              next_cursor: z.string().nullable().meta({ description: "Pass as `cursor` for the next page" }),
            }),
          },
        },
      },
      400: errorResponse("A query parameter or the cursor is invalid"),
      401: errorResponse("No valid Supabase session"),
      403: errorResponse("The session belongs to another user"),
      503: errorResponse("The database is unavailable"),
    },
  };
}

export function buildOpenApiDocument(serverUrl: string) {
  const paths: ZodOpenApiPathsObject = {
    "/api/health": {
      get: {
        operationId: "health",
        summary: "Database, Redis and queue configuration",
        tags: ["Operations"],
        responses: {
          200: {
            description: "Everything is up",
            content: {
              "application/json": {
                schema: z.object({
                  success: z.literal(true),
                  data: z.object({ status: z.literal("ok"), checks: z.record(z.string(), z.unknown()) }),
                }),
              },
            },
          },
          503: errorResponse("Something is down; `error.message` names it"),
        },
      },
    },
  };
  for (const resource of resources) {
    paths[`/api/${resource.name}/{user_id}`] = { get: listOperation(resource) };
  }
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "AI Agent Team API",
      version: "0.1.0",
      description:
        "Backend of a seven-agent team for a small business. Authenticate with a Supabase session: " +
        "`Authorization: Bearer <access token>`. Errors share one envelope; list endpoints use keyset pagination.",
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        supabaseSession: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "Supabase access token",
        },
      },
    },
    paths,
  });
}
