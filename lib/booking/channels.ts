import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { and, eq, gt, ne, sql } from "drizzle-orm";
import { raiseAlert } from "../alerts";
import { getConfig } from "../config";
import { calendarChannels, calendarEvents } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { googleStatus } from "../google/errors";
import { ApiError } from "../http/errors";
import { appUrl, publishJob } from "../queue";
import { calendarWorkerPath, sweepReminders } from "./reminders";

export const calendarWebhookPath = "/webhook/calendar";

/** A channel is replaced when it has less than this left (the schedule runs hourly). */
const renewWithinMs = 24 * 3_600_000;

/**
 * The token Google echoes in `X-Goog-Channel-Token` on every notification of a channel: an HMAC of
 * the channel id under CALENDAR_CHANNEL_SECRET, so only channels we opened verify.
 */
export function channelToken(channelId: string): string {
  return createHmac("sha256", getConfig().CALENDAR_CHANNEL_SECRET)
    .update(`calendar-channel.v1.${channelId}`)
    .digest("base64url");
}

/** Names the secret a channel's token was made with, so a rotation is noticed and the channel replaced. */
export function channelKeyId(): string {
  return createHash("sha256")
    .update(createHmac("sha256", getConfig().CALENDAR_CHANNEL_SECRET).update("key-id").digest())
    .digest("hex")
    .slice(0, 16);
}

export function verifyChannelToken(channelId: string, token: string): boolean {
  const expected = Buffer.from(channelToken(channelId));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export type CalendarChannel = typeof calendarChannels.$inferSelect;

export async function findChannel(id: string): Promise<CalendarChannel | undefined> {
  const db = await serviceDb();
  const [channel] = await db.select().from(calendarChannels).where(eq(calendarChannels.id, id));
  return channel;
}

/** Users who would miss meetings if the calendar stopped telling us about them. */
async function calendarUsers(): Promise<string[]> {
  const db = await serviceDb();
  const rows = await db
    .selectDistinct({ userId: calendarEvents.user_id })
    .from(calendarEvents)
    .where(gt(calendarEvents.start_time, new Date(Date.now() - 30 * 86_400_000).toISOString()));
  return rows.map((row) => row.userId);
}

/**
 * Hourly (QStash schedule): keeps one live push channel on the business calendar. A channel near
 * expiry, or made with a secret since rotated, is replaced: the new channel is opened first, then the
 * old ones are stopped, so no change goes unannounced in between. Each run also queues a reconcile
 * sync, which catches any notification that never arrived.
 */
export async function renewCalendarChannels() {
  const config = getConfig();
  const { businessCalendar } = await import("../google/calendar");
  const cal = businessCalendar();
  if (!cal) {
    return { skipped: "no Google credentials: nothing to watch" };
  }
  const db = await serviceDb();
  const active = await db
    .select()
    .from(calendarChannels)
    .where(and(eq(calendarChannels.calendar_id, cal.id), eq(calendarChannels.status, "active")));
  const keyId = channelKeyId();
  const keep = active.find(
    (channel) => channel.key_id === keyId && timestampMs(channel.expires_at) - Date.now() > renewWithinMs,
  );

  let opened: CalendarChannel | undefined;
  if (!keep) {
    const id = randomUUID();
    try {
      const { data } = await cal.api.events.watch({
        calendarId: cal.id,
        requestBody: {
          id,
          type: "web_hook",
          address: appUrl(calendarWebhookPath),
          token: channelToken(id),
          params: { ttl: String(config.CALENDAR_CHANNEL_TTL_SECONDS) },
        },
      });
      [opened] = await db
        .insert(calendarChannels)
        .values({
          id,
          calendar_id: cal.id,
          resource_id: data.resourceId ?? "",
          resource_uri: data.resourceUri ?? null,
          key_id: keyId,
          expires_at: new Date(
            Number(data.expiration ?? Date.now() + config.CALENDAR_CHANNEL_TTL_SECONDS * 1000),
          ).toISOString(),
        })
        .returning();
    } catch (error) {
      for (const userId of await calendarUsers()) {
        await raiseAlert({
          userId,
          type: "calendar.watch_failed",
          severity: "warning",
          title: "Calendar changes may stop arriving",
          message: `Opening a push channel on the calendar failed (${String(error).slice(0, 200)}). It is retried; until then, changes are picked up by the hourly reconcile.`,
          metadata: { calendar_id: cal.id },
        });
      }
      throw new ApiError("service_unavailable", "Opening a Calendar push channel failed", {
        cause: error,
        headers: { "retry-after": "300" },
      });
    }
  }

  const current = keep ?? opened;
  const stopped: string[] = [];
  for (const old of active.filter((channel) => channel.id !== current?.id)) {
    try {
      await cal.api.channels.stop({ requestBody: { id: old.id, resourceId: old.resource_id } });
    } catch (error) {
      // A channel Google no longer knows has stopped already; anything else is retried next hour.
      if (googleStatus(error) !== 404) {
        continue;
      }
    }
    await db
      .update(calendarChannels)
      .set({ status: "stopped", stopped_at: new Date().toISOString() })
      .where(and(eq(calendarChannels.id, old.id), ne(calendarChannels.status, "stopped")));
    stopped.push(old.id);
  }

  const reconcile = await publishJob(
    calendarWorkerPath,
    { sync: "reconcile" },
    { deduplicationId: `calendar-reconcile-${Math.floor(Date.now() / 3_600_000)}`, retries: 3 },
  );
  return {
    channel: current ? { id: current.id, expires_at: current.expires_at, opened: Boolean(opened) } : null,
    stopped,
    reconcile_message_id: reconcile,
  };
}

/** The hourly calendar-watch run: the push channel, then any meeting still missing its reminder. */
export async function runCalendarWatch() {
  const channels = await renewCalendarChannels();
  const pruned = await pruneChannels();
  return { channels, channels_pruned: pruned, reminders_scheduled: await sweepReminders() };
}

/** Forgets stopped channels a week after they ended. */
export async function pruneChannels(): Promise<number> {
  const db = await serviceDb();
  const gone = await db
    .delete(calendarChannels)
    .where(
      and(
        eq(calendarChannels.status, "stopped"),
        sql`${calendarChannels.stopped_at} < now() - interval '7 days'`,
      ),
    )
    .returning({ id: calendarChannels.id });
  return gone.length;
}
