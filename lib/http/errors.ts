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

/** Turns anything thrown into an ApiError; unknown errors keep their details out of the reply. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) {
    return error;
  }
  return new ApiError("internal_error", "Internal server error", { cause: error, retryable: true });
}
