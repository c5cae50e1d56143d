import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ApiError } from "../lib/http/errors";
import { json, route } from "../lib/http/handler";

const echo = route("/api/echo/:id", {
  POST: async (ctx) =>
    json({ id: ctx.params.id, body: await ctx.json(z.object({ name: z.string().min(1) })) }),
  GET: async (ctx) => json({ q: ctx.query(z.object({ n: z.coerce.number().int().max(5) })) }),
  DELETE: async () => {
    throw new Error("connection string postgres://secret@db/prod refused");
  },
  PUT: async () => {
    throw new ApiError("conflict", "Still running", { headers: { "retry-after": "3" } });
  },
});

const request = (method: string, path: string, init: RequestInit = {}) =>
  new Request(`http://app.test${path}`, { method, ...init });

describe("the function wrapper", () => {
  it("passes path parameters and a validated body", async () => {
    const res = await echo.POST(
      request("POST", "/api/echo/42", {
        body: '{"name":"Ada"}',
        headers: { "content-type": "application/json" },
      }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: "42", body: { name: "Ada" } });
  });

  it("400 naming the first bad path, in the one envelope", async () => {
    const res = await echo.POST(
      request("POST", "/api/echo/1", {
        body: '{"name":""}',
        headers: { "content-type": "application/json" },
      }),
    );
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.success).toBe(false);
    expect(body.error.code).toBe("bad_request");
    expect(body.error.message).toMatch(/^body\.name: /);
    expect(body.error.requestId).toBe(res.headers.get("x-request-id"));
  });

  it("400 for malformed JSON, 415 for another content type", async () => {
    const bad = await echo.POST(
      request("POST", "/api/echo/1", { body: "{", headers: { "content-type": "application/json" } }),
    );
    expect(bad.status).toBe(400);
    const text = await echo.POST(
      request("POST", "/api/echo/1", { body: "name=x", headers: { "content-type": "text/plain" } }),
    );
    expect(text.status).toBe(415);
    expect((await text.json()).error.code).toBe("unsupported_media_type");
  });

  it("413 for a body over the limit, declared or streamed", async () => {
    const big = JSON.stringify({ name: "x".repeat(1_100_000) });
    const declared = await echo.POST(
      request("POST", "/api/echo/1", { body: big, headers: { "content-type": "application/json" } }),
    );
    expect(declared.status).toBe(413);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 12; i++) {
          controller.enqueue(new TextEncoder().encode("x".repeat(100_000)));
        }
        controller.close();
      },
    });
    const streamed = await echo.POST(
      request("POST", "/api/echo/1", {
        body: stream,
        headers: { "content-type": "application/json" },
        duplex: "half",
      } as RequestInit),
    );
    expect(streamed.status).toBe(413);
    expect((await streamed.json()).error.code).toBe("payload_too_large");
  });

  it("400 for a bad query parameter", async () => {
    const res = await echo.GET(request("GET", "/api/echo/1?n=9"));
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/^query\.n: /);
  });

  it("405 with Allow for a method the function does not serve", async () => {
    const res = await echo.PATCH(request("PATCH", "/api/echo/1"));
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, POST, PUT, DELETE, OPTIONS");
  });

  it("a generic 500 for unknown errors: no internals in the reply", async () => {
    const res = await echo.DELETE(request("DELETE", "/api/echo/1"));
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.error).toEqual({
      code: "internal_error",
      message: "Internal server error",
      requestId: expect.any(String),
    });
    expect(JSON.stringify(body)).not.toContain("postgres://");
  });

  it("an ApiError keeps its status and headers", async () => {
    const res = await echo.PUT(request("PUT", "/api/echo/1"));
    expect(res.status).toBe(409);
    expect(res.headers.get("retry-after")).toBe("3");
  });

  it("keeps a well-formed caller request id and replaces a malformed one", async () => {
    const kept = await echo.GET(
      request("GET", "/api/echo/1?n=1", { headers: { "x-request-id": "req_abcdef123" } }),
    );
    expect(kept.headers.get("x-request-id")).toBe("req_abcdef123");
    const replaced = await echo.GET(
      request("GET", "/api/echo/1?n=1", { headers: { "x-request-id": "<script>" } }),
    );
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("CORS: the frontend origin gets preflight and response headers; others get none", async () => {
    const origin = "https://app.example.com";
    const preflight = await echo.OPTIONS(request("OPTIONS", "/api/echo/1", { headers: { origin } }));
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");
    const actual = await echo.GET(request("GET", "/api/echo/1?n=1", { headers: { origin } }));
    expect(actual.headers.get("access-control-allow-origin")).toBe(origin);
    const foreign = await echo.OPTIONS(
      request("OPTIONS", "/api/echo/1", { headers: { origin: "https://evil.example" } }),
    );
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
  });
});
