/**
 * What a failed Gmail call means for the worker. Gmail documents its limits in the error body, not
 * in headers (developers.google.com/gmail/api/guides/handle-errors): the mail-sending limit is a
 * 429 "User-rate limit exceeded.  Retry after <time> (Mail sending)", the daily quota a 429 "Daily
 * user sending quota exceeded.", the per-user request rate a 429 (or 403 userRateLimitExceeded /
 * rateLimitExceeded) with its retry time in the message, the project's daily API quota a 403
 * dailyLimitExceeded "Daily Limit Exceeded".
 */
export type GmailFailure =
  /** Put this one email off; the mailbox may go on. */
  | { kind: "rate_limited"; retryAfterSeconds: number; message: string }
  /** The account may send nothing until `until`: the mailbox pauses (and its admins hear why). */
  | { kind: "sending_limit"; until: Date; message: string }
  | { kind: "transient"; message: string }
  | { kind: "permanent"; status: number; message: string };

/** The HTTP status of a failed Google API call (0 when no answer came). */
export function googleStatus(error: unknown): number {
  const failure = error as { status?: number; code?: number | string; response?: { status?: number } };
  return Number(failure.status ?? failure.response?.status ?? failure.code ?? 0) || 0;
}

const day = 86_400_000;

interface GoogleErrorBody {
  error?: { message?: string; errors?: { reason?: string; message?: string }[] };
}

/** "Retry after 2026-12-02T14:00:00.000Z" in Gmail's message, as a time still to come. */
function retryAfterInMessage(message: string, now: number): Date | undefined {
  const match = /Retry after (\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:?\d{2}))/i.exec(message);
  const at = match ? Date.parse(match[1] as string) : Number.NaN;
  return Number.isNaN(at) || at <= now ? undefined : new Date(at);
}

function retryAfterHeader(headers: unknown, now: number): number | undefined {
  // gaxios answers with a fetch Headers (not always this realm's class) or a plain object.
  const value =
    typeof (headers as { get?: unknown } | undefined)?.get === "function"
      ? (headers as { get(name: string): string | null }).get("retry-after")
      : ((headers as Record<string, string> | undefined)?.["retry-after"] ?? null);
  if (!value) {
    return undefined;
  }
  if (/^\d+$/.test(value.trim())) {
    return Number(value.trim());
  }
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(1, Math.ceil((at - now) / 1000));
}

export function classifyGmailError(error: unknown, now = Date.now()): GmailFailure {
  const failure = error as {
    message?: string;
    response?: { headers?: unknown; data?: unknown };
  };
  const status = googleStatus(error);
  const body = (failure.response?.data ?? {}) as GoogleErrorBody;
  const reasons = (body.error?.errors ?? []).map((entry) => entry.reason ?? "");
  const message = body.error?.message ?? failure.message ?? String(error);
  const text = `${message} ${(body.error?.errors ?? []).map((entry) => entry.message ?? "").join(" ")}`;

  // The account's sending limit: nothing more goes out until the time Gmail gives, else a day.
  if (/\(Mail sending\)|sending quota exceeded|sending limit exceeded|5\.4\.5/i.test(text)) {
    return { kind: "sending_limit", until: retryAfterInMessage(text, now) ?? new Date(now + day), message };
  }
  const rateReasons = ["rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded"];
  if (status === 429 || (status === 403 && reasons.some((reason) => rateReasons.includes(reason)))) {
    const inMessage = retryAfterInMessage(text, now);
    const seconds =
      retryAfterHeader(failure.response?.headers, now) ??
      (inMessage ? Math.ceil((inMessage.getTime() - now) / 1000) : undefined) ??
      // The project's daily API quota comes back over hours, not seconds.
      (reasons.includes("dailyLimitExceeded") ? 3600 : 60);
    return { kind: "rate_limited", retryAfterSeconds: Math.max(1, seconds), message };
  }
  if (status === 0 || status >= 500 || status === 408) {
    return { kind: "transient", message };
  }
  return { kind: "permanent", status, message };
}
