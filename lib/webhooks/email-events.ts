import { emailWorkerPath } from "../email/queueing";
import { gmailNotification, pushBody, verifyPushToken } from "../google/push";
import { ApiError, fromZodError } from "../http/errors";
import type { RequestContext } from "../http/handler";
import { reply } from "../http/responses";
import { publishJob } from "../queue";
import { processOnce } from "./dedupe";
import { pushAnswer } from "./responses";

/**
 * `POST /webhook/email`: Gmail's Pub/Sub push. The OIDC token is verified before the body is read;
 * the notification is recorded once per Pub/Sub message id and answered at once, and the mailbox's
 * history is processed by the email worker (a QStash job per notification, retried there), so a
 * slow sync never makes Pub/Sub redeliver.
 */
export async function handleEmailPush(ctx: RequestContext): Promise<Response> {
  await verifyPushToken(ctx.request);
  let raw: unknown;
  try {
    raw = JSON.parse(await ctx.text());
  } catch {
    throw new ApiError("bad_request", "The body is not JSON");
  }
  const push = pushBody.safeParse(raw);
  if (!push.success) {
    throw fromZodError(push.error, "body");
  }
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(push.data.message.data, "base64").toString("utf8"));
  } catch {
    data = undefined;
  }
  const notification = gmailNotification.safeParse(data);
  if (!notification.success) {
    throw fromZodError(notification.error, "body.message.data");
  }
  const outcome = await processOnce(
    {
      source: "email",
      eventId: push.data.message.messageId,
      eventType: "gmail.notification",
      payload: notification.data,
    },
    async () => {
      await publishJob(
        emailWorkerPath,
        { sync_mailbox: notification.data.emailAddress, history_id: notification.data.historyId },
        { deduplicationId: `gmail-push-${push.data.message.messageId}`, retries: 5 },
      );
      return "processed";
    },
  );
  return reply(pushAnswer, { success: true, data: { outcome } });
}
