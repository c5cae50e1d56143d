import { validate } from "@readme/openapi-parser";
import { beforeAll, describe, expect, it } from "vitest";
import { buildOpenApiDocument } from "../lib/openapi";
import { resources } from "../lib/queries/resources";

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
});
