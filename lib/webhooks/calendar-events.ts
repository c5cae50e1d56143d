import { z } from "zod";
import { findChannel, verifyChannelToken } from "../booking/channels";
import { calendarWorkerPath } from "../booking/reminders";
import { ApiError, fromZodError } from "../http/errors";
import type { RequestContext } from "../http/handler";
import { reply } from "../http/responses";
import { publishJob } from "../queue";
import { processOnce } from "./dedupe";
import { pushAnswer } from "./responses";

/** The headers Google Calendar sends with each push notification (the body is empty). */
export const calendarPushHeaders = z.object({
  "x-goog-channel-id": z.string().min(1).max(64),
  "x-goog-channel-token": z.string().min(1).max(256),
  "x-goog-resource-id": z.string().min(1).max(1024),
  "x-goog-resource-state": z.enum(["sync", "exists", "not_exists"]),
  "x-goog-message-number": z.string().regex(/^\d{1,20}$/),
  "x-goog-channel-expiration": z.string().max(100).optional(),
  "x-goog-resource-uri": z.string().max(2048).optional(),
});

/**
 * `POST /webhook/calendar`: a Calendar push notification. The channel token must be the HMAC of the
 * channel id under our secret (checked first, in constant time), the channel one we opened and the
 * resource the one it watches. Each (channel, message number) is applied once: `sync` (the channel's
 * first message) is acknowledged, a change queues a sync of the calendar in the calendar worker.
 */
export async function handleCalendarPush(ctx: RequestContext): Promise<Response> {
  const headers = ctx.request.headers;
  const channelId = headers.get("x-goog-channel-id") ?? "";
  const token = headers.get("x-goog-channel-token") ?? "";
  if (!channelId || !token || channelId.length > 64 || !verifyChannelToken(channelId, token)) {
    throw new ApiError("invalid_signature", "X-Goog-Channel-Token does not verify for this channel");
  }
  const parsed = calendarPushHeaders.safeParse(Object.fromEntries(headers.entries()));
  if (!parsed.success) {
    throw fromZodError(parsed.error, "headers");
  }
  const notification = parsed.data;
  const channel = await findChannel(channelId);
  if (!channel) {
    throw new ApiError("not_found", "No such notification channel");
  }
  if (channel.resource_id !== notification["x-goog-resource-id"]) {
    throw new ApiError("invalid_signature", "The resource id is not the one this channel watches");
  }
  if (channel.status !== "active") {
    // A replaced channel can still deliver for a moment; its successor reports the same changes.
    return reply(pushAnswer, { success: true, data: { outcome: "ignored" } });
  }
  const state = notification["x-goog-resource-state"];
  const messageNumber = notification["x-goog-message-number"];
  const outcome = await processOnce(
    {
      source: "calendar",
      eventId: `${channelId}:${messageNumber}`,
      eventType: `calendar.${state}`,
      payload: { channel_id: channelId, resource_state: state, message_number: messageNumber },
    },
    async () => {
      if (state === "sync") {
        return "ignored";
      }
      await publishJob(
        calendarWorkerPath,
        { sync: "push", calendar_id: channel.calendar_id },
        { deduplicationId: `gcal-push-${channelId}-${messageNumber}`, retries: 5 },
      );
      return "processed";
    },
  );
  return reply(pushAnswer, { success: true, data: { outcome } });
}
