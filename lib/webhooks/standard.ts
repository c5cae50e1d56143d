import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";
import { getConfig } from "../config";
import { ApiError } from "../http/errors";
import type { RequestContext } from "../http/handler";

export interface VerifiedEvent {
  id: string;
  timestamp: number;
  payload: unknown;
}

/** The Standard Webhooks tolerance: a timestamp further than this from now either way is refused. */
const toleranceSeconds = 5 * 60;

let keys: KeyObject[] | undefined;

/**
 * Every configured secret verifies, so the signing secret can rotate without dropping events. The
 * configuration has already checked each one is `whsec_` and base64 of at least 24 bytes. Imported
 * once as key objects: an HMAC keyed with raw bytes imports them again on every call.
 */
function signingKeys(): KeyObject[] {
  keys ??= getConfig()
    .TASK_WEBHOOK_SECRETS.split(",")
    .map((secret) => secret.trim())
    .filter(Boolean)
    .map((secret) => createSecretKey(Buffer.from(secret.replace(/^whsec_/, ""), "base64")));
  return keys;
}

/** The first configured secret, the one our own senders sign with. */
export function signingSecret(): string {
  return (getConfig().TASK_WEBHOOK_SECRETS.split(",")[0] ?? "").trim();
}

function parseBody(body: string): unknown {
  if (body === "") {
    return undefined;
  }
  try {
    return JSON.parse(body);
  } catch {
    // Signed by a holder of the secret, so not a forgery: the sender's bug, told as such.
    throw new ApiError("bad_request", "Body is not valid JSON");
  }
}

/**
 * Standard Webhooks verification over the raw body: `webhook-id`, `webhook-timestamp` (five minutes
 * either way) and any `v1` signature of `id.timestamp.body`, compared in constant time. Node's HMAC
 * rather than the reference library's pure-JavaScript SHA-256: this runs on every task event.
 */
export async function verifyStandardWebhook(ctx: RequestContext): Promise<VerifiedEvent> {
  const body = await ctx.text();
  const id = ctx.request.headers.get("webhook-id") ?? "";
  const timestampHeader = ctx.request.headers.get("webhook-timestamp") ?? "";
  const signatureHeader = ctx.request.headers.get("webhook-signature") ?? "";
  if (!id || !timestampHeader || !signatureHeader) {
    throw new ApiError("invalid_signature", "Missing webhook-id, webhook-timestamp or webhook-signature");
  }
  // Parsed as the reference library parses it, so a sender it accepts is accepted here too.
  const timestamp = Number.parseInt(timestampHeader, 10);
  if (Number.isNaN(timestamp)) {
    throw new ApiError("invalid_signature", "Webhook refused: Invalid Signature Headers");
  }
  const now = Math.floor(Date.now() / 1000);
  if (now - timestamp > toleranceSeconds) {
    throw new ApiError("invalid_signature", "Webhook refused: Message timestamp too old");
  }
  if (timestamp > now + toleranceSeconds) {
    throw new ApiError("invalid_signature", "Webhook refused: Message timestamp too new");
  }
  const passed = signatureHeader
    .split(" ")
    .map((entry) => entry.split(","))
    .filter(([version]) => version === "v1")
    .map(([, signature]) => Buffer.from(signature ?? ""));
  const signed = `${id}.${timestamp}.${body}`;
  for (const key of signingKeys()) {
    const expected = Buffer.from(createHmac("sha256", key).update(signed).digest("base64"));
    if (
      passed.some((signature) => signature.length === expected.length && timingSafeEqual(signature, expected))
    ) {
      return { id, timestamp: Number(timestampHeader), payload: parseBody(body) };
    }
  }
  throw new ApiError("invalid_signature", "Webhook refused: No matching signature found");
}
