import type { calendar_v3 } from "@googleapis/calendar";
import { and, desc, eq, gt, inArray, isNotNull, ne, notInArray, sql } from "drizzle-orm";
import { calendarEvents, leads } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { googleStatus } from "../google/errors";
import { ApiError } from "../http/errors";
import { getRedis } from "../kv";
import { tryLock } from "../lock";
import type { Logger } from "../log";
import { dispatchTask } from "../tasks/dispatch";
import { claimTask, requestHash } from "../tasks/store";
import { bookedByTaskProperty } from "./book";
import { type ConnectedCalendar, connectedCalendar, updateCalendar, withCalendar } from "./calendars";
import { cancelReminder, ensureReminder } from "./reminders";

type MeetingRow = typeof calendarEvents.$inferSelect;

export interface SyncSummary {
  full: boolean;
  pages: number;
  events: number;
  created: number;
  moved: number;
  updated: number;
  cancelled: number;
  call_preps: number;
}

const emptySummary = (full: boolean): SyncSummary => ({
  full,
  pages: 0,
  events: 0,
  created: 0,
  moved: 0,
  updated: 0,
  cancelled: 0,
  call_preps: 0,
});

/**
 * Queues call prep for a meeting the calendar brought us (once per meeting, whatever retries). The
 * task is admitted by the agent worker like any run (rate limit, budget) before a model is called.
 */
async function queueCallPrep(row: MeetingRow): Promise<boolean> {
  const input = {
    user_id: row.user_id,
    workspace_id: row.workspace_id,
    calendar_event_id: row.id,
    ...(row.lead_id ? { lead_id: row.lead_id } : {}),
    prompt: "Prepare me for this call.",
  };
  const claim = await claimTask({
    workspaceId: row.workspace_id,
    userId: row.user_id,
    agent: "booking-callprep",
    input,
    key: `calendar-meeting-${row.id}`,
    hash: requestHash(input),
    status: "queued",
  });
  if (claim.task.status === "queued") {
    await dispatchTask(claim.task.id);
  }
  const db = await serviceDb();
  await db
    .update(calendarEvents)
    .set({
      metadata: sql`${calendarEvents.metadata} || ${JSON.stringify({ call_prep_task_id: claim.task.id })}::jsonb`,
    })
    .where(eq(calendarEvents.id, row.id));
  return claim.kind === "new";
}

function attendeeEmails(event: calendar_v3.Schema$Event): string[] {
  return (event.attendees ?? [])
    .filter((attendee) => !attendee.self && !attendee.resource && attendee.email)
    .map((attendee) => (attendee.email ?? "").toLowerCase());
}

function meetingFields(event: calendar_v3.Schema$Event) {
  const start = Date.parse(event.start?.dateTime ?? "");
  const end = Date.parse(event.end?.dateTime ?? "");
  return {
    start,
    end,
    fields: {
      title: (event.summary?.trim() || "Meeting").slice(0, 500),
      start_time: new Date(start).toISOString(),
      duration_minutes: Math.min(1440, Math.max(1, Math.round((end - start) / 60_000) || 30)),
      meeting_url: event.hangoutLink ?? null,
      attendees: (event.attendees ?? [])
        .filter((attendee) => !attendee.self && attendee.email)
        .map((attendee) => ({
          email: attendee.email,
          name: attendee.displayName ?? null,
          response: attendee.responseStatus ?? null,
        })),
      ical_uid: event.iCalUID ?? null,
      sync_status: "synced" as const,
    },
  };
}

/**
 * Applies one event of a workspace's calendar to the meeting that mirrors it, or adds it when an
 * attendee is one of that workspace's leads (never another workspace's: the calendar is theirs).
 */
async function applyEvent(
  cal: ConnectedCalendar,
  event: calendar_v3.Schema$Event,
  summary: SyncSummary,
): Promise<void> {
  const db = await serviceDb();
  const googleId = event.id;
  if (!googleId) {
    return;
  }
  const existing = await db
    .select()
    .from(calendarEvents)
    .where(and(eq(calendarEvents.calendar_id, cal.row.id), eq(calendarEvents.google_event_id, googleId)));

  if (event.status === "cancelled") {
    for (const row of existing.filter((r) => r.status !== "cancelled")) {
      const [cancelled] = await db
        .update(calendarEvents)
        .set({
          status: "cancelled",
          metadata: sql`${calendarEvents.metadata} || ${JSON.stringify({ cancelled_at: new Date().toISOString(), cancelled_in: "calendar" })}::jsonb`,
        })
        .where(eq(calendarEvents.id, row.id))
        .returning();
      await cancelReminder(cancelled ?? row);
      summary.cancelled += 1;
    }
    return;
  }
  // Timed, one-off meetings only: all-day entries are not calls, and series are left to the user.
  if (!event.start?.dateTime || !event.end?.dateTime || event.recurrence || event.recurringEventId) {
    return;
  }
  const { start, end, fields } = meetingFields(event);
  const status = event.status === "tentative" ? ("tentative" as const) : undefined;

  for (const row of existing) {
    const moved = timestampMs(row.start_time) !== start || row.duration_minutes !== fields.duration_minutes;
    const revived = row.status === "cancelled";
    const [updated] = await db
      .update(calendarEvents)
      .set({
        ...fields,
        ...(status
          ? { status }
          : revived || row.status === "tentative"
            ? { status: "confirmed" as const }
            : {}),
        time_zone: event.start.timeZone ?? row.time_zone,
      })
      .where(eq(calendarEvents.id, row.id))
      .returning();
    if (moved) {
      summary.moved += 1;
    } else {
      summary.updated += 1;
    }
    if (updated) {
      await ensureReminder(updated);
      if (
        !updated.task_id &&
        updated.lead_id &&
        !(updated.metadata as { call_prep_task_id?: string }).call_prep_task_id
      ) {
        summary.call_preps += Number(await queueCallPrep(updated));
      }
    }
  }

  // Our booking writes its own row and script for the events it books.
  if (existing.length > 0 || event.extendedProperties?.private?.[bookedByTaskProperty] || end <= Date.now()) {
    return;
  }
  const emails = attendeeEmails(event);
  if (emails.length === 0) {
    return;
  }
  // The workspace's best-scored lead among the attendees; the meeting is its member's.
  const [lead] = await db
    .select({ id: leads.id, user_id: leads.user_id })
    .from(leads)
    .where(and(eq(leads.workspace_id, cal.row.workspace_id), inArray(sql`lower(${leads.email})`, emails)))
    .orderBy(sql`${leads.score} desc nulls last`, desc(leads.updated_at))
    .limit(1);
  if (!lead) {
    return;
  }
  const [inserted] = await db
    .insert(calendarEvents)
    .values({
      ...fields,
      workspace_id: cal.row.workspace_id,
      user_id: lead.user_id,
      lead_id: lead.id,
      status: status ?? "confirmed",
      time_zone: event.start.timeZone ?? "UTC",
      calendar_id: cal.row.id,
      google_calendar_id: cal.row.google_calendar_id,
      google_event_id: googleId,
      description: event.description?.slice(0, 4000) ?? null,
      metadata: { source: "calendar" },
    })
    .onConflictDoNothing({
      target: [calendarEvents.calendar_id, calendarEvents.google_event_id],
      where: isNotNull(calendarEvents.google_event_id),
    })
    .returning();
  if (!inserted) {
    return;
  }
  summary.created += 1;
  summary.call_preps += Number(await queueCallPrep(inserted));
  await ensureReminder(inserted);
}

/**
 * One pass over the calendar's changes: incremental from the stored sync token, every page, or a
 * full listing when there is none or Google answers 410 (the token expired). After a full listing,
 * upcoming meetings the calendar no longer has are cancelled, since a full listing shows no deletions.
 * The token is stored only when every page was applied, so a failed pass is simply run again.
 */
async function syncPass(calendar: ConnectedCalendar, log: Logger): Promise<SyncSummary> {
  const db = await serviceDb();
  // The row as it is now (a pass before this one moved the token on).
  const cal = (await connectedCalendar(calendar.row.id)) ?? calendar;
  let syncToken = cal.row.sync_token ?? undefined;
  let summary = emptySummary(!syncToken);
  const seen = new Set<string>();
  let pageToken: string | undefined;
  let nextSyncToken: string | undefined;
  for (;;) {
    let page: calendar_v3.Schema$Events;
    try {
      page = await withCalendar(cal, async (api, calendarId) => {
        const { data } = await api.events.list({
          calendarId,
          maxResults: 250,
          ...(syncToken ? { syncToken } : {}),
          ...(pageToken ? { pageToken } : {}),
        });
        return data;
      });
    } catch (error) {
      if (error instanceof ApiError) {
        throw error;
      }
      if (googleStatus(error) === 410 && syncToken) {
        log.warn({ calendar: cal.row.id }, "calendar sync token expired: full sync");
        await updateCalendar(cal.row.id, { sync_token: null });
        syncToken = undefined;
        pageToken = undefined;
        summary = emptySummary(true);
        seen.clear();
        continue;
      }
      throw new ApiError(
        "upstream_error",
        `Listing the calendar's events failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    summary.pages += 1;
    for (const event of page.items ?? []) {
      summary.events += 1;
      if (event.id) {
        seen.add(event.id);
      }
      await applyEvent(cal, event, summary);
    }
    if (page.nextPageToken) {
      pageToken = page.nextPageToken;
      continue;
    }
    nextSyncToken = page.nextSyncToken ?? undefined;
    break;
  }

  if (summary.full) {
    const gone = await db
      .select()
      .from(calendarEvents)
      .where(
        and(
          eq(calendarEvents.calendar_id, cal.row.id),
          isNotNull(calendarEvents.google_event_id),
          ne(calendarEvents.status, "cancelled"),
          gt(calendarEvents.start_time, new Date().toISOString()),
          seen.size ? notInArray(calendarEvents.google_event_id, [...seen]) : undefined,
        ),
      );
    for (const row of gone) {
      await applyEvent(cal, { id: row.google_event_id, status: "cancelled" }, summary);
    }
  }
  const now = new Date().toISOString();
  await updateCalendar(cal.row.id, {
    sync_token: nextSyncToken ?? null,
    last_synced_at: now,
    ...(summary.full ? { last_full_sync_at: now } : {}),
  });
  return summary;
}

/**
 * Syncs one connected calendar, one pass at a time per calendar. A request that arrives while a pass
 * runs leaves a mark and returns; the running pass sees the mark and goes again, so a burst of
 * notifications costs at most one extra pass and no change is missed.
 */
export async function syncCalendar(
  calendarId: string,
  log: Logger,
): Promise<{ skipped?: string; passes: SyncSummary[] }> {
  const cal = await connectedCalendar(calendarId);
  if (cal?.connection.status !== "active") {
    return { skipped: "the calendar is not connected", passes: [] };
  }
  const redis = getRedis();
  const pending = `calendar-sync-pending:${cal.row.id}`;
  await redis.set(pending, "1", { ex: 3600 });
  const passes: SyncSummary[] = [];
  for (;;) {
    const lock = await tryLock(`calendar-sync:${cal.row.id}`, 280_000);
    if (!lock) {
      return { skipped: "a sync is running and will pick this up", passes };
    }
    try {
      while ((await redis.del(pending)) === 1) {
        passes.push(await syncPass(cal, log));
      }
    } catch (error) {
      await redis.set(pending, "1", { ex: 3600 });
      throw error;
    } finally {
      await lock.release();
    }
    if ((await redis.exists(pending)) === 0) {
      return { passes };
    }
  }
}
