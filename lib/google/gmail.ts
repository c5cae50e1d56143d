import { gmail, type gmail_v1 } from "@googleapis/gmail";
import { getConfig } from "../config";
import { googleAuth, googleRootUrl } from "./auth";

/**
 * The one way to talk to Gmail: the sending mailbox's client, authorised as the business's Google
 * account (./auth). Without credentials there is no client and the email worker writes to the outbox.
 */
export interface Mailbox {
  address: string;
  name: string | undefined;
  api: gmail_v1.Gmail;
  /** Per-call options: Gmail's media upload path ignores the service-level root. */
  rootUrl: string | undefined;
}

let cached: Mailbox | null | undefined;

export function gmailMailbox(): Mailbox | null {
  if (cached !== undefined) {
    return cached;
  }
  const config = getConfig();
  const auth = googleAuth();
  if (!auth || !config.GMAIL_SENDER) {
    cached = null;
    return cached;
  }
  const rootUrl = googleRootUrl();
  cached = {
    address: config.GMAIL_SENDER,
    name: config.GMAIL_SENDER_NAME,
    api: gmail({ version: "v1", auth, ...(rootUrl ? { rootUrl } : {}), retry: false }),
    rootUrl,
  };
  return cached;
}

/** The sender's address in either mode (the outbox writes as the configured sender too). */
export function senderAddress(): { address: string; name: string | undefined } {
  const config = getConfig();
  return { address: config.GMAIL_SENDER ?? "outbox@localhost.localdomain", name: config.GMAIL_SENDER_NAME };
}

/** What a failed Gmail call means for the worker. */
export type GmailFailure =
  | { kind: "rate_limited"; retryAfterSeconds: number }
  | { kind: "daily_quota"; message: string }
  | { kind: "transient"; message: string }
  | { kind: "permanent"; status: number; message: string };

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
  const status = Number(failure.status ?? failure.response?.status ?? failure.code ?? 0) || 0;
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
