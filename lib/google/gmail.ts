import { gmail, type gmail_v1 } from "@googleapis/gmail";
import { JWT, OAuth2Client } from "google-auth-library";
import { getConfig } from "../config";

/**
 * The one way to talk to Gmail: the sending mailbox's client, authorised by a service account with
 * domain-wide delegation (impersonating GMAIL_SENDER) or by the sender's OAuth refresh token. Without
 * credentials there is no client and the email worker writes to the outbox instead.
 */
const scopes = [
  "https://www.googleapis.com/auth/gmail.send",
  "https://www.googleapis.com/auth/gmail.readonly",
  "https://www.googleapis.com/auth/gmail.modify",
];

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
  let auth: JWT | OAuth2Client | undefined;
  if (config.GMAIL_CREDENTIALS_JSON) {
    const key = JSON.parse(config.GMAIL_CREDENTIALS_JSON) as { client_email: string; private_key: string };
    auth = new JWT({ email: key.client_email, key: key.private_key, scopes, subject: config.GMAIL_SENDER });
  } else if (config.GMAIL_OAUTH_REFRESH_TOKEN) {
    auth = new OAuth2Client({
      clientId: config.GMAIL_OAUTH_CLIENT_ID,
      clientSecret: config.GMAIL_OAUTH_CLIENT_SECRET,
      ...(config.GOOGLE_OAUTH_TOKEN_URL
        ? { endpoints: { oauth2TokenUrl: config.GOOGLE_OAUTH_TOKEN_URL } }
        : {}),
    });
    auth.setCredentials({ refresh_token: config.GMAIL_OAUTH_REFRESH_TOKEN });
  }
  if (!auth || !config.GMAIL_SENDER) {
    cached = null;
    return cached;
  }
  const rootUrl = config.GOOGLE_API_ROOT_URL
    ? `${config.GOOGLE_API_ROOT_URL.replace(/\/$/, "")}/`
    : undefined;
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
