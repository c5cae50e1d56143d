import type { z } from "zod";

/** Every error code the API answers with, and its HTTP status. The one table. */
export const errorStatus = {
  bad_request: 400,
  unauthorized: 401,
  invalid_signature: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  google_reconnect_required: 409,
  postal_address_required: 409,
  sender_not_authenticated: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable_entity: 422,
  rate_limited: 429,
  budget_exceeded: 429,
  internal_error: 500,
  upstream_error: 502,
  llm_not_configured: 503,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export interface ErrorBody {
  success: false;
  error: { code: ErrorCode; message: string; requestId: string; details?: unknown };
}

interface ApiErrorOptions {
  details?: unknown;
  /** Whether repeating the same request later could succeed (drives worker replies and Retry-After). */
  retryable?: boolean;
  headers?: Record<string, string>;
  cause?: unknown;
}

/** The one error class. Anything else thrown becomes a generic 500. */
export class ApiError extends Error {
  readonly status: number;
  readonly details: unknown;
  readonly retryable: boolean;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ApiError";
    this.status = errorStatus[code];
    this.details = options.details;
    this.retryable = options.retryable ?? this.status >= 500;
    this.headers = options.headers ?? {};
  }
}

/** A zod failure as a 400 that names the first bad path. */
export function fromZodError(error: z.ZodError, where: string): ApiError {
  const first = error.issues[0];
  const path = first && first.path.length > 0 ? first.path.join(".") : where;
  const message = first
    ? `${where === path ? "" : `${where}.`}${path}: ${first.message}`
    : `Invalid ${where}`;
  return new ApiError("bad_request", message, {
    details: error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
  });
}

export function errorBody(error: ApiError, requestId: string): ErrorBody {
  return {
    success: false,
    error: {
      code: error.code,
      message: error.message,
      requestId,
      ...(error.details === undefined ? {} : { details: error.details }),
    },
  };
}

/**
 * Network codes, postgres.js connection codes and SQLSTATEs that mean the database (or another
 * service) could not be reached, not that the request or a query was wrong.
 */
const unreachableCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
]);

/** True when `error`, or anything in its cause chain, is the database being unreachable. */
export function isDatabaseUnreachable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = String((current as { code?: unknown }).code ?? "");
    if (unreachableCodes.has(code) || code.startsWith("08")) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Turns anything thrown into an ApiError; unknown errors keep their details out of the reply. A
 * database that went away mid-request is a 503 with Retry-After, so callers and QStash try again.
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) {
    return error;
  }
  if (isDatabaseUnreachable(error)) {
    // Network codes alone do not say which service went away; the reply does not guess.
    return new ApiError("service_unavailable", "A service this request needs is unavailable; retry shortly", {
      cause: error,
      headers: { "retry-after": "5" },
    });
  }
  return new ApiError("internal_error", "Internal server error", { cause: error, retryable: true });
}
