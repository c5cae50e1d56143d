/**
 * Booking: whether and when a meeting is booked, and its event in the workspace's Google Calendar.
 * A requested time is checked with free/busy (busy → not booked, the first free slots inside the
 * workspace's working hours proposed, in the request's time zone or the workspace's); without one,
 * the first free slot of a window on request. The event id derives from the task, so a retried
 * request books one event; the meeting row is written by the service (never through a member's
 * session), and gets its reminder.
 */
import { createHash } from "node:crypto";
import type { calendar_v3 } from "@googleapis/calendar";
import { and, eq } from "drizzle-orm";
import { calendarEvents, type leads } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { googleStatus } from "../google/errors";
import { ApiError } from "../http/errors";
import { parseWorkingHours } from "../local-time";
import type { Logger } from "../log";
import { workspaceRow } from "../workspaces/access";
import { type ConnectedCalendar, withCalendar, workspaceCalendar } from "./calendars";
import { ensureReminder } from "./reminders";
import { freeSlots, withinWorkingHours } from "./slots";

type LeadRow = typeof leads.$inferSelect;
type MeetingRow = typeof calendarEvents.$inferSelect;

/** The private extended property our booking stamps on the events it creates. */
export const bookedByTaskProperty = "aiAgentTeamTask";

export interface BookingRequest {
  meetingType: string;
  scheduledTime?: string | undefined;
  window?: { earliest: string; latest: string } | undefined;
  durationMinutes: number;
  timeZone?: string | undefined;
  bookFirstFree: boolean;
  note: string;
}

export interface Booking {
  booked: boolean;
  calendar_touched: boolean;
  start: string | null;
  reason: string | null;
  proposals: { start: string; end: string }[];
  calendar_event_id: string | null;
  google_event_id: string | null;
  meeting_url: string | null;
}

export interface BookingTarget {
  workspaceId: string;
  userId: string;
  taskId: string;
  log: Logger;
}

/** A Google event id from the task: the same request can only ever create the same event. */
function eventIdFor(seed: string): string {
  // Hex is inside Calendar's base32hex alphabet (a–v, 0–9).
  return createHash("sha256").update(`booking:${seed}`).digest("hex").slice(0, 40);
}

/**
 * The meeting's reminder. A queue failure does not undo a booking: the hourly calendar-watch run
 * schedules any reminder still missing.
 */
async function remindOf(meeting: MeetingRow, log: Logger): Promise<void> {
  try {
    await ensureReminder(meeting);
  } catch (error) {
    log.warn({ err: error, meeting: meeting.id }, "meeting reminder not queued; the hourly sweep retries");
  }
}

async function insertEvent(
  cal: ConnectedCalendar,
  id: string,
  body: {
    summary: string;
    description: string;
    start: Date;
    end: Date;
    timeZone: string;
    attendee: string | null;
    taskId: string;
  },
): Promise<calendar_v3.Schema$Event> {
  const requestBody = {
    id,
    // Lets the calendar sync know this meeting's row and script are the booking's to write.
    extendedProperties: { private: { [bookedByTaskProperty]: body.taskId } },
    summary: body.summary,
    description: body.description,
    start: { dateTime: body.start.toISOString(), timeZone: body.timeZone },
    end: { dateTime: body.end.toISOString(), timeZone: body.timeZone },
    attendees: body.attendee ? [{ email: body.attendee }] : [],
  };
  return withCalendar(cal, async (api, calendarId) => {
    try {
      const { data } = await api.events.insert({
        calendarId,
        conferenceDataVersion: 1,
        sendUpdates: "all",
        requestBody: {
          ...requestBody,
          conferenceData: {
            createRequest: { requestId: id, conferenceSolutionKey: { type: "hangoutsMeet" } },
          },
        },
      });
      return data;
    } catch (error) {
      const status = googleStatus(error);
      if (status === 409) {
        // Already booked by an earlier attempt of this same request.
        return (await api.events.get({ calendarId, eventId: id })).data;
      }
      if (status === 400 && /conference/i.test(String((error as Error).message))) {
        // The account has no Meet: the meeting is booked without a link.
        return (await api.events.insert({ calendarId, sendUpdates: "all", requestBody })).data;
      }
      if (error instanceof ApiError) {
        throw error;
      }
      throw new ApiError(
        "upstream_error",
        `Google Calendar refused the booking: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  });
}

/** Books the meeting for a lead (or proposes free slots), in the workspace's calendar if it has one. */
export async function book(
  target: BookingTarget,
  request: BookingRequest,
  lead: LeadRow | undefined,
): Promise<Booking> {
  const workspace = await workspaceRow(target.workspaceId);
  const zone = request.timeZone ?? workspace.time_zone;
  const hours = parseWorkingHours(workspace.working_hours, workspace.working_days);
  const duration = request.durationMinutes;
  const cal = await workspaceCalendar(target.workspaceId);
  const result: Booking = {
    booked: false,
    calendar_touched: Boolean(cal),
    start: null,
    reason: null,
    proposals: [],
    calendar_event_id: null,
    google_event_id: null,
    meeting_url: null,
  };
  const from = request.scheduledTime
    ? Date.parse(request.scheduledTime)
    : Math.max(Date.now() + 3_600_000, Date.parse(request.window?.earliest ?? "") || 0);
  const to = request.scheduledTime
    ? from + duration * 60_000
    : Date.parse(request.window?.latest ?? "") || Date.now() + 7 * 86_400_000;
  const busy = cal
    ? await withCalendar(cal, async (api, calendarId) => {
        const { busyBetween } = await import("../google/calendar");
        return busyBetween(api, calendarId, new Date(from), new Date(Math.max(to, from + 14 * 86_400_000)));
      })
    : [];

  let start: number | undefined;
  if (request.scheduledTime) {
    const clash = busy.some((b) => b.start < from + duration * 60_000 && b.end > from);
    if (clash) {
      result.reason = "the requested time is not free";
    } else if (from < Date.now()) {
      result.reason = "the requested time is in the past";
    } else {
      start = from;
    }
    if (start === undefined) {
      result.proposals = freeSlots({
        from: Math.max(from, Date.now()),
        to: from + 7 * 86_400_000,
        durationMinutes: duration,
        timeZone: zone,
        hours,
        busy,
        count: 3,
      });
    } else if (!withinWorkingHours(start, duration, zone, hours)) {
      result.reason = "booked outside working hours, as requested";
    }
  } else {
    result.proposals = freeSlots({
      from,
      to,
      durationMinutes: duration,
      timeZone: zone,
      hours,
      busy,
      count: 3,
    });
    if (request.bookFirstFree && result.proposals[0]) {
      start = Date.parse(result.proposals[0].start);
    } else if (result.proposals.length === 0) {
      result.reason = "no free slot in the window and working hours";
    }
  }
  if (start === undefined) {
    return result;
  }

  const summary = `${request.meetingType[0]?.toUpperCase()}${request.meetingType.slice(1)} call${lead ? ` with ${lead.name ?? lead.email ?? "lead"}${lead.company ? ` (${lead.company})` : ""}` : ""}`;
  const event = cal
    ? await insertEvent(cal, eventIdFor(target.taskId), {
        summary,
        description: `Booked by the AI team's booking agent. ${request.note}`.slice(0, 2000),
        start: new Date(start),
        end: new Date(start + duration * 60_000),
        timeZone: zone,
        attendee: lead?.email ?? null,
        taskId: target.taskId,
      })
    : undefined;
  const values = {
    workspace_id: target.workspaceId,
    user_id: target.userId,
    lead_id: lead?.id ?? null,
    task_id: target.taskId,
    title: summary.slice(0, 500),
    description: request.note,
    start_time: new Date(start).toISOString(),
    duration_minutes: duration,
    time_zone: zone,
    status: "scheduled" as const,
    sync_status: event ? ("synced" as const) : ("not_synced" as const),
    calendar_id: event ? (cal?.row.id ?? null) : null,
    google_calendar_id: event ? (cal?.row.google_calendar_id ?? null) : null,
    google_event_id: event?.id ?? null,
    ical_uid: event?.iCalUID ?? null,
    meeting_url: event?.hangoutLink ?? null,
    attendees: lead?.email ? [{ email: lead.email, name: lead.name }] : [],
    metadata: event
      ? {}
      : { note: "The workspace has no Google account connected: the calendar was not touched" },
  };
  const db = await serviceDb();
  const [row] = await db.transaction(async (tx) => {
    const [existing] = await tx
      .select({ id: calendarEvents.id })
      .from(calendarEvents)
      .where(
        and(eq(calendarEvents.workspace_id, target.workspaceId), eq(calendarEvents.task_id, target.taskId)),
      );
    if (existing) {
      return tx.update(calendarEvents).set(values).where(eq(calendarEvents.id, existing.id)).returning();
    }
    return tx.insert(calendarEvents).values(values).returning();
  });
  if (row) {
    await remindOf(row, target.log);
  }
  return {
    ...result,
    booked: true,
    start: new Date(start).toISOString(),
    calendar_event_id: row?.id ?? null,
    google_event_id: event?.id ?? null,
    meeting_url: event?.hangoutLink ?? null,
  };
}

/**
 * An existing meeting of the workspace, for call prep only (nothing is booked); it gets its reminder
 * here when it has none. 404 for a meeting of another workspace (the two are not told apart).
 */
export async function existingMeeting(
  target: BookingTarget,
  meetingId: string,
): Promise<{ booking: Booking; meeting: MeetingRow }> {
  const db = await serviceDb();
  const [meeting] = await db
    .select()
    .from(calendarEvents)
    .where(and(eq(calendarEvents.id, meetingId), eq(calendarEvents.workspace_id, target.workspaceId)));
  if (!meeting) {
    throw new ApiError("not_found", "No such meeting in this workspace");
  }
  await remindOf(meeting, target.log);
  return {
    meeting,
    booking: {
      booked: false,
      calendar_touched: false,
      start: new Date(timestampMs(meeting.start_time)).toISOString(),
      reason: "an existing meeting: call prep only",
      proposals: [],
      calendar_event_id: meeting.id,
      google_event_id: meeting.google_event_id,
      meeting_url: meeting.meeting_url,
    },
  };
}
