/** What a failed Gmail call means for the worker. */
export type GmailFailure =
  | { kind: "rate_limited"; retryAfterSeconds: number }
  | { kind: "daily_quota"; message: string }
  | { kind: "transient"; message: string }
  | { kind: "permanent"; status: number; message: string };

/** The HTTP status of a failed Google API call (0 when no answer came). */
export function googleStatus(error: unknown): number {
  const failure = error as { status?: number; code?: number | string; response?: { status?: number } };
  return Number(failure.status ?? failure.response?.status ?? failure.code ?? 0) || 0;
}

export function classifyGmailError(error: unknown): GmailFailure {
  const failure = error as {
    status?: number;
    code?: number | string;
    message?: string;
    response?: {
      status?: number;
      headers?: Record<string, string> | { get(name: string): string | null };
      data?: unknown;
    };
  };
  const status = googleStatus(error);
  const body = JSON.stringify(failure.response?.data ?? "");
  const message = failure.message ?? String(error);
  if (/dailyLimitExceeded|5\.4\.5|Daily user sending limit exceeded/i.test(`${body} ${message}`)) {
    return { kind: "daily_quota", message };
  }
  if (status === 429 || /userRateLimitExceeded|rateLimitExceeded/.test(body)) {
    const headers = failure.response?.headers;
    // gaxios answers with a fetch Headers (not always this realm's class) or a plain object.
    const retryAfter =
      typeof headers?.get === "function"
        ? (headers as { get(name: string): string | null }).get("retry-after")
        : ((headers as Record<string, string> | undefined)?.["retry-after"] ?? null);
    return { kind: "rate_limited", retryAfterSeconds: Math.max(1, Number(retryAfter) || 60) };
  }
  if (status === 0 || status >= 500 || status === 408) {
    return { kind: "transient", message };
  }
  return { kind: "permanent", status, message };
}
