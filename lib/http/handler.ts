import { match } from "path-to-regexp";
import type { z } from "zod";
import { getConfig } from "../config";
import { jsonProblem } from "../json";
import { type Logger, log as rootLog } from "../log";
import { ApiError, errorBody, fromZodError, toApiError } from "./errors";

export const httpMethods = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type HttpMethod = (typeof httpMethods)[number];

export interface RequestContext {
  request: Request;
  url: URL;
  requestId: string;
  log: Logger;
  /** Path parameters from the route pattern (or, behind a rewrite, the query string). */
  params: Record<string, string>;
  /** The raw body, read once, within the size limit; signature checks use these exact bytes. */
  text(): Promise<string>;
  /** The body parsed as JSON and validated; 415/400 otherwise. */
  json<S extends z.ZodType>(schema: S): Promise<z.output<S>>;
  /** The query string validated by a schema; 400 naming the first bad parameter. */
  query<S extends z.ZodType>(schema: S): z.output<S>;
}

export type Handler = (ctx: RequestContext) => Promise<Response>;
export type RouteHandlers = Partial<Record<HttpMethod, Handler>>;
export type FunctionExports = Record<HttpMethod | "OPTIONS", (request: Request) => Promise<Response>>;

const requestIdPattern = /^[A-Za-z0-9._:-]{8,128}$/;

/** The route's path parameters through their schema; a bad one is a 400 naming it. */
export function pathParams<S extends z.ZodObject>(ctx: RequestContext, schema: S): z.output<S> {
  const parsed = schema.safeParse(ctx.params);
  if (!parsed.success) {
    throw fromZodError(parsed.error, "path");
  }
  return parsed.data;
}

export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return Response.json(body, { status, headers });
}

/** `{ success: true, data, ...extra }` */
export function ok(data: unknown, extra: Record<string, unknown> = {}, status = 200): Response {
  return json({ success: true, data, ...extra }, status);
}

/**
 * Vercel refuses request bodies over 4.5 MB itself; up to that, an oversized body is read and
 * discarded before the 413, so a client still sending it gets the answer instead of a reset.
 */
const discardUpToBytes = 4_500_000;

async function discard(reader: ReadableStreamDefaultReader<Uint8Array>, already: number): Promise<void> {
  let total = already;
  while (total <= discardUpToBytes) {
    const { done, value } = await reader.read();
    if (done) {
      return;
    }
    total += value.byteLength;
  }
  await reader.cancel();
}

/** A path segment, percent-decoded; malformed encoding or a NUL is the client's error. */
export function decodePathSegment(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw new ApiError("bad_request", "The path has malformed percent-encoding");
  }
  if (decoded.includes("\u0000")) {
    throw new ApiError("bad_request", "The path contains a NUL character");
  }
  return decoded;
}

async function readLimitedText(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) {
    if (request.body && declared <= discardUpToBytes) {
      await discard(request.body.getReader(), 0);
    }
    throw new ApiError("payload_too_large", `Request body exceeds ${limit} bytes`);
  }
  if (!request.body) {
    return "";
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    total += value.byteLength;
    if (total > limit) {
      await discard(reader, total);
      throw new ApiError("payload_too_large", `Request body exceeds ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function corsHeaders(request: Request, allowed: string[]): Record<string, string> {
  const origin = request.headers.get("origin");
  if (!origin || !getConfig().FRONTEND_ORIGIN.includes(origin)) {
    return {};
  }
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-methods": [...allowed, "OPTIONS"].join(", "),
    "access-control-allow-headers": "authorization, content-type, idempotency-key, x-request-id",
    "access-control-expose-headers":
      "x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset",
    "access-control-max-age": "600",
    vary: "Origin",
  };
}

function withHeaders(response: Response, headers: Record<string, string>): Response {
  for (const [name, value] of Object.entries(headers)) {
    response.headers.set(name, value);
  }
  return response;
}

export function errorResponse(error: ApiError, requestId: string): Response {
  return json(errorBody(error, requestId), error.status, error.headers);
}

/**
 * One Vercel Function: exports a handler for every HTTP method so that unsupported methods get the
 * 405 envelope, preflights get CORS, and every reply carries `x-request-id`. Errors are mapped here
 * and only here.
 */
export function route(pattern: string, handlers: RouteHandlers): FunctionExports {
  getConfig(); // a misconfigured deployment fails when the function loads, naming every bad variable
  const allowed = httpMethods.filter((method) => handlers[method]);
  const matchPath = match<Record<string, string>>(pattern, { decode: decodePathSegment });

  const dispatch = (method: HttpMethod | "OPTIONS") => async (request: Request) => {
    const incomingId = request.headers.get("x-request-id");
    const requestId = incomingId && requestIdPattern.test(incomingId) ? incomingId : crypto.randomUUID();
    const url = new URL(request.url);
    const log = rootLog.child({ requestId, method, path: url.pathname });
    const cors = corsHeaders(request, allowed);
    const started = performance.now();

    let response: Response;
    try {
      if (method === "OPTIONS") {
        response = new Response(null, {
          status: 204,
          headers: { allow: [...allowed, "OPTIONS"].join(", ") },
        });
      } else {
        const handler = handlers[method];
        if (!handler) {
          throw new ApiError("method_not_allowed", `${method} is not allowed on ${pattern}`, {
            headers: { allow: [...allowed, "OPTIONS"].join(", ") },
          });
        }
        const matched = matchPath(url.pathname);
        const params: Record<string, string> = matched
          ? { ...matched.params }
          : Object.fromEntries(url.searchParams.entries());
        let bodyText: Promise<string> | undefined;
        const text = () => {
          bodyText ??= readLimitedText(request, getConfig().MAX_BODY_BYTES);
          return bodyText;
        };
        const ctx: RequestContext = {
          request,
          url,
          requestId,
          log,
          params,
          text,
          async json(schema) {
            const type = request.headers.get("content-type") ?? "";
            if (!type.toLowerCase().includes("application/json")) {
              throw new ApiError("unsupported_media_type", "Content-Type must be application/json");
            }
            const raw = await text();
            let parsed: unknown;
            try {
              parsed = JSON.parse(raw);
            } catch {
              throw new ApiError("bad_request", "Body is not valid JSON");
            }
            const problem = jsonProblem(parsed);
            if (problem) {
              throw new ApiError("bad_request", `The body ${problem}`);
            }
            const result = schema.safeParse(parsed);
            if (!result.success) {
              throw fromZodError(result.error, "body");
            }
            return result.data;
          },
          query(schema) {
            const entries = Object.fromEntries(url.searchParams.entries());
            if (jsonProblem(entries)) {
              throw new ApiError("bad_request", "The query string contains a NUL character");
            }
            const result = schema.safeParse(entries);
            if (!result.success) {
              throw fromZodError(result.error, "query");
            }
            return result.data;
          },
        };
        response = await handler(ctx);
      }
    } catch (thrown) {
      const error = toApiError(thrown);
      if (error.status >= 500) {
        log.error({ err: thrown, code: error.code }, "request failed");
      } else {
        log.info({ code: error.code, message: error.message }, "request refused");
      }
      response = errorResponse(error, requestId);
      // Refused before its body was read (no session, a bad signature…): take the rest of the upload
      // first, so the client reads the answer rather than a reset connection.
      if (request.body && !request.bodyUsed) {
        await discard(request.body.getReader(), 0).catch(() => {});
      }
    }
    log.debug({ status: response.status, ms: Math.round(performance.now() - started) }, "request done");
    return withHeaders(response, { ...cors, "x-request-id": requestId });
  };

  return {
    GET: dispatch("GET"),
    POST: dispatch("POST"),
    PUT: dispatch("PUT"),
    PATCH: dispatch("PATCH"),
    DELETE: dispatch("DELETE"),
    OPTIONS: dispatch("OPTIONS"),
  };
}
