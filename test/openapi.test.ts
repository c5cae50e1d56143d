import { validate } from "@readme/openapi-parser";
import { beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { createSchema } from "zod-openapi";
import { GET as health } from "../api/health";
import { taskAccepted, taskCompleted } from "../lib/agents/responses";
import { healthAnswer } from "../lib/health";
import { errorEnvelope } from "../lib/http/responses";
import { buildOpenApiDocument } from "../lib/openapi";
import { resources } from "../lib/queries/resources";
import { callbackPayload } from "../lib/queue";
import { scrapeWorkerAnswer } from "../lib/scrape/report";
import { taskSummary } from "../lib/tasks/store";
import { callbackAnswer, pushAnswer, taskWebhookAnswer } from "../lib/webhooks/responses";

/** The schemas handlers answer with (through `reply`) or read, by the component id they publish. */
const handlerSchemas: [string, z.ZodType, "input" | "output"][] = [
  ["TaskSummary", taskSummary, "output"],
  ["TaskAccepted", taskAccepted, "output"],
  ["TaskCompleted", taskCompleted, "output"],
  ["TaskWebhookAnswer", taskWebhookAnswer, "output"],
  ["CallbackAnswer", callbackAnswer, "output"],
  ["PushAnswer", pushAnswer, "output"],
  ["ScrapeWorkerAnswer", scrapeWorkerAnswer, "output"],
  ["Health", healthAnswer, "output"],
  ["Error", errorEnvelope, "output"],
  ["QStashCallback", callbackPayload, "input"],
];

describe("OpenAPI document", () => {
  let document: Awaited<ReturnType<typeof buildOpenApiDocument>>;
  beforeAll(async () => {
    document = await buildOpenApiDocument("https://agents.example.com");
  });

  it("is a valid OpenAPI 3.1 document", async () => {
    const result = await validate(structuredClone(document) as Parameters<typeof validate>[0]);
    expect("errors" in result ? result.errors : []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("documents each query endpoint with the parameters its zod schema validates", () => {
    for (const resource of resources) {
      const operation = document.paths?.[`/api/${resource.name}/{user_id}`]?.get;
      const names = (operation?.parameters ?? []).map((p) => ("name" in p ? p.name : ""));
      expect(names.sort()).toEqual(["user_id", ...Object.keys(resource.query.shape)].sort());
      expect(Object.keys(operation?.responses ?? {})).toEqual(
        expect.arrayContaining(["200", "400", "401", "403"]),
      );
    }
  });

  it("documents the four agents with their request bodies, and the task webhook", () => {
    for (const name of ["product-manager", "finance-manager", "marketing-strategist", "engineer"]) {
      const operation = document.paths?.[`/api/agents/${name}`]?.post;
      expect(Object.keys(operation?.responses ?? {})).toEqual(
        expect.arrayContaining(["200", "202", "409", "422", "429"]),
      );
      expect(JSON.stringify(operation?.requestBody)).toContain("prompt");
    }
    expect(document.paths?.["/webhook/task"]?.post).toBeDefined();
  });

  it("describes the error envelope with every error code", () => {
    const schema = document.components?.schemas?.Error as {
      properties: { error: { properties: { code: { enum: string[] } } } };
    };
    expect(schema.properties.error.properties.code.enum).toEqual(
      expect.arrayContaining(["bad_request", "unauthorized", "rate_limited"]),
    );
  });

  it("publishes each handler's own response schema: the component is the JSON Schema of the exported zod schema", () => {
    const components = document.components?.schemas ?? {};
    for (const [id, schema, io] of handlerSchemas) {
      const generated = createSchema(schema, { io, openapiVersion: "3.1.0" });
      expect(generated.schema, id).toEqual({ $ref: `#/components/schemas/${id}` });
      expect(components[id], id).toEqual(generated.components[id]);
    }
  });

  it("refers to those components from the operations, never to an inline copy", () => {
    type Content = { content?: Record<string, { schema?: unknown }> };
    const schemaAt = (path: string, method: "get" | "post", status?: string) => {
      const operation = document.paths?.[path]?.[method];
      const part = (status ? operation?.responses?.[status] : operation?.requestBody) as Content | undefined;
      return part?.content?.["application/json"]?.schema;
    };
    const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
    for (const name of ["product-manager", "finance-manager", "marketing-strategist", "engineer"]) {
      expect(schemaAt(`/api/agents/${name}`, "post", "200"), name).toEqual(ref("TaskCompleted"));
      expect(schemaAt(`/api/agents/${name}`, "post", "202"), name).toEqual(ref("TaskAccepted"));
    }
    expect(schemaAt("/api/agents/leadgen-scraper", "post", "202")).toEqual(ref("TaskAccepted"));
    expect(schemaAt("/webhook/task", "post", "200")).toEqual(ref("TaskWebhookAnswer"));
    expect(schemaAt("/webhook/scrape", "post", "200")).toEqual(ref("CallbackAnswer"));
    expect(schemaAt("/webhook/scrape", "post")).toEqual(ref("QStashCallback"));
    expect(schemaAt("/webhook/email", "post", "200")).toEqual(ref("PushAnswer"));
    expect(schemaAt("/webhook/calendar", "post", "200")).toEqual(ref("PushAnswer"));
    expect(schemaAt("/api/health", "get", "200")).toEqual(ref("Health"));
    expect(schemaAt("/api/health", "get", "503")).toEqual(ref("Error"));
  });

  it("the health handler's actual answer parses with the schema the document publishes", async () => {
    const response = await health(new Request("http://app.test/api/health"));
    const body = await response.json();
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(healthAnswer.safeParse(body).error).toBeUndefined();
  });
});
