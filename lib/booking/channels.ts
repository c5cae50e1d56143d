import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { and, eq, ne, sql } from "drizzle-orm";
import { alertAdmins } from "../alerts";
import { getConfig } from "../config";
import { calendarChannels } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { type Connection, liveConnections } from "../google/connections";
import { googleStatus } from "../google/errors";
import { ApiError, toApiError } from "../http/errors";
import type { Logger } from "../log";
import { appUrl, publishJob } from "../queue";
import { type ConnectedCalendar, calendarOfConnection, withCalendar } from "./calendars";
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

/**
 * Keeps one live push channel on a connected calendar. A channel near expiry, or made with a secret
 * since rotated, is replaced: the new channel is opened first, then the old ones are stopped, so no
 * change goes unannounced in between. Each run also queues a reconcile sync of the calendar, which
 * catches any notification that never arrived.
 */
async function renewChannel(cal: ConnectedCalendar) {
  const config = getConfig();
  const db = await serviceDb();
  const active = await db
    .select()
    .from(calendarChannels)
    .where(and(eq(calendarChannels.calendar_id, cal.row.id), eq(calendarChannels.status, "active")));
  const keyId = channelKeyId();
  const keep = active.find(
    (channel) => channel.key_id === keyId && timestampMs(channel.expires_at) - Date.now() > renewWithinMs,
  );

  let opened: CalendarChannel | undefined;
  if (!keep) {
    const id = randomUUID();
    const data = await withCalendar(cal, async (api, calendarId) => {
      const { data } = await api.events.watch({
        calendarId,
        requestBody: {
          id,
          type: "web_hook",
          address: appUrl(calendarWebhookPath),
          token: channelToken(id),
          params: { ttl: String(config.CALENDAR_CHANNEL_TTL_SECONDS) },
        },
      });
      return data;
    });
    [opened] = await db
      .insert(calendarChannels)
      .values({
        id,
        calendar_id: cal.row.id,
        resource_id: data.resourceId ?? "",
        resource_uri: data.resourceUri ?? null,
        key_id: keyId,
        expires_at: new Date(
          Number(data.expiration ?? Date.now() + config.CALENDAR_CHANNEL_TTL_SECONDS * 1000),
        ).toISOString(),
      })
      .returning();
  }

  const current = keep ?? opened;
  const stopped: string[] = [];
  for (const old of active.filter((channel) => channel.id !== current?.id)) {
    if (await stopChannel(cal, old)) {
      stopped.push(old.id);
    }
  }
  const reconcile = await publishJob(
    calendarWorkerPath,
    { sync: "reconcile", calendar_id: cal.row.id },
    {
      deduplicationId: `calendar-reconcile-${cal.row.id}-${Math.floor(Date.now() / 3_600_000)}`,
      retries: 3,
    },
  );
  return {
    calendar_id: cal.row.id,
    channel: current ? { id: current.id, expires_at: current.expires_at, opened: Boolean(opened) } : null,
    stopped,
    reconcile_message_id: reconcile,
  };
}

/** Stops a channel at Google and marks it stopped; false when Google failed (retried next hour). */
export async function stopChannel(cal: ConnectedCalendar, channel: CalendarChannel): Promise<boolean> {
  try {
    await withCalendar(cal, (api) =>
      api.channels.stop({ requestBody: { id: channel.id, resourceId: channel.resource_id } }),
    );
  } catch (error) {
    // A channel Google no longer knows has stopped already; anything else is retried next hour.
    if (googleStatus(error) !== 404) {
      return false;
    }
  }
  const db = await serviceDb();
  await db
    .update(calendarChannels)
    .set({ status: "stopped", stopped_at: new Date().toISOString() })
    .where(and(eq(calendarChannels.id, channel.id), ne(calendarChannels.status, "stopped")));
  return true;
}

/** The active channels of a calendar (a disconnect stops them all). */
export async function activeChannels(calendarId: string): Promise<CalendarChannel[]> {
  const db = await serviceDb();
  return db
    .select()
    .from(calendarChannels)
    .where(and(eq(calendarChannels.calendar_id, calendarId), eq(calendarChannels.status, "active")));
}

/**
 * Hourly (QStash schedule): a channel on every connected calendar. One calendar's failure alerts its
 * workspace's admins and does not stop the others; the run answers 503 afterwards so QStash retries.
 */
export async function renewCalendarChannels(log: Logger) {
  const results: Awaited<ReturnType<typeof renewChannel>>[] = [];
  const failures: { calendar_id: string; error: string }[] = [];
  for (const connection of await liveConnections()) {
    if (connection.status !== "active") {
      continue;
    }
    const cal: ConnectedCalendar = { row: await calendarOfConnection(connection), connection };
    try {
      results.push(await renewChannel(cal));
    } catch (thrown) {
      const error = toApiError(thrown);
      log.warn({ calendar: cal.row.id, err: thrown }, "opening a calendar push channel failed");
      if (error.code === "google_reconnect_required") {
        continue;
      }
      failures.push({ calendar_id: cal.row.id, error: error.message });
      await alertWatchFailed(connection, thrown);
    }
  }
  if (failures.length > 0) {
    throw new ApiError("service_unavailable", "Opening a Calendar push channel failed", {
      headers: { "retry-after": "300" },
      details: { failures, renewed: results },
    });
  }
  return results;
}

async function alertWatchFailed(connection: Connection, error: unknown) {
  await alertAdmins({
    workspaceId: connection.workspace_id,
    type: "calendar.watch_failed",
    severity: "warning",
    title: "Calendar changes may stop arriving",
    message: `Opening a push channel on the calendar of ${connection.email} failed (${String(error).slice(0, 200)}). It is retried; until then, changes are picked up by the hourly reconcile.`,
    metadata: { connection_id: connection.id },
  });
}

/** The hourly calendar-watch run: the push channels, then any meeting still missing its reminder. */
export async function runCalendarWatch(log: Logger) {
  const pruned = await pruneChannels();
  const reminders = await sweepReminders();
  const channels = await renewCalendarChannels(log);
  return { channels, channels_pruned: pruned, reminders_scheduled: reminders };
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
