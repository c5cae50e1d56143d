import { Webhook } from "standardwebhooks";
import { getConfig } from "../config";
import { ApiError } from "../http/errors";
import type { RequestContext } from "../http/handler";

export interface VerifiedEvent {
  id: string;
  timestamp: number;
  payload: unknown;
}

let verifiers: Webhook[] | undefined;

/** Every configured secret verifies, so the signing secret can rotate without dropping events. */
function webhooks(): Webhook[] {
  verifiers ??= getConfig()
    .TASK_WEBHOOK_SECRETS.split(",")
    .map((secret) => secret.trim())
    .filter(Boolean)
    .map((secret) => new Webhook(secret));
  return verifiers;
}

/** The first configured secret, the one our own senders sign with. */
export function signingSecret(): string {
  return (getConfig().TASK_WEBHOOK_SECRETS.split(",")[0] ?? "").trim();
}

/**
 * Standard Webhooks verification over the raw body: `webhook-id`, `webhook-timestamp` (five minutes
 * either way) and any `v1` signature of `id.timestamp.body`, compared in constant time.
 */
export async function verifyStandardWebhook(ctx: RequestContext): Promise<VerifiedEvent> {
  const body = await ctx.text();
  const headers = {
    "webhook-id": ctx.request.headers.get("webhook-id") ?? "",
    "webhook-timestamp": ctx.request.headers.get("webhook-timestamp") ?? "",
    "webhook-signature": ctx.request.headers.get("webhook-signature") ?? "",
  };
  if (!headers["webhook-id"] || !headers["webhook-timestamp"] || !headers["webhook-signature"]) {
    throw new ApiError("invalid_signature", "Missing webhook-id, webhook-timestamp or webhook-signature");
  }
  let lastReason = "signature does not verify";
  for (const webhook of webhooks()) {
    try {
      const payload = webhook.verify(body, headers);
      return { id: headers["webhook-id"], timestamp: Number(headers["webhook-timestamp"]), payload };
    } catch (error) {
      lastReason = error instanceof Error ? error.message : String(error);
    }
  }
  throw new ApiError("invalid_signature", `Webhook refused: ${lastReason}`);
}
