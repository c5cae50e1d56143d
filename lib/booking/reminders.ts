import { createHash } from "node:crypto";
import { and, desc, eq, gt, inArray, lt, sql } from "drizzle-orm";
import { raiseAlert } from "../alerts";
import { getConfig } from "../config";
import { calendarEvents, callScripts, leads } from "../db/schema";
import { asService, serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { getQueue, publishJob } from "../queue";

export const calendarWorkerPath = "/api/workers/calendar";

/** QStash holds a delayed message for at most a week; a reminder further out is carried in hops. */
const maxDelaySeconds = 7 * 86_400;

type MeetingRow = typeof calendarEvents.$inferSelect;

/** What a meeting's metadata records about its reminder. */
export interface ReminderState {
  /** The one QStash message allowed to raise the alert (null once cancelled). */
  message_id: string | null;
  for_start: string;
  due_at: string;
  sent_at?: string;
  cancelled_at?: string;
}

export const reminderOf = (row: Pick<MeetingRow, "metadata">): ReminderState | undefined =>
  (row.metadata as { reminder?: ReminderState }).reminder;

const liveStatuses = new Set(["scheduled", "tentative", "confirmed"]);

async function deleteMessage(messageId: string | null | undefined): Promise<void> {
  if (!messageId) {
    return;
  }
  try {
    await getQueue().messages.delete(messageId);
  } catch {
    // Already delivered or gone. A stale message that still arrives is dropped by the worker: only
    // the message recorded on the meeting may raise the alert.
  }
}

/** Records `next` as the meeting's reminder only if the recorded one is still `previous`. */
async function recordReminder(
  meetingId: string,
  previous: string | null | undefined,
  next: ReminderState,
): Promise<boolean> {
  const db = await serviceDb();
  const updated = await db
    .update(calendarEvents)
    .set({ metadata: sql`${calendarEvents.metadata} || ${JSON.stringify({ reminder: next })}::jsonb` })
    .where(
      and(
        eq(calendarEvents.id, meetingId),
        sql`(${calendarEvents.metadata} -> 'reminder' ->> 'message_id') is not distinct from ${previous ?? null}`,
      ),
    )
    .returning({ id: calendarEvents.id });
  return updated.length === 1;
}

/**
 * Makes sure an upcoming meeting has one reminder, due MEETING_REMINDER_MINUTES before its start: a
 * delayed QStash message to the calendar worker. A meeting that moved gets a new one and the old is
 * deleted; a cancelled or past meeting has none. Safe to call any number of times, concurrently.
 */
export async function ensureReminder(row: MeetingRow): Promise<ReminderState | undefined> {
  if (!liveStatuses.has(row.status)) {
    await cancelReminder(row);
    return undefined;
  }
  const start = timestampMs(row.start_time);
  const forStart = new Date(start).toISOString();
  const current = reminderOf(row);
  if (current?.for_start === forStart && (current.message_id || current.sent_at)) {
    return current;
  }
  if (start <= Date.now()) {
    return undefined;
  }
  const due = start - getConfig().MEETING_REMINDER_MINUTES * 60_000;
  const delaySeconds = Math.min(maxDelaySeconds, Math.max(0, Math.ceil((due - Date.now()) / 1000)));
  // Concurrent callers starting from the same recorded state publish the same message.
  const seed = createHash("sha256")
    .update(current?.message_id ?? current?.cancelled_at ?? "none")
    .digest("hex")
    .slice(0, 16);
  const messageId = await publishJob(
    calendarWorkerPath,
    { reminder: row.id, for_start: forStart },
    { deduplicationId: `reminder-${row.id}-${start}-${seed}`, delaySeconds, retries: 3 },
  );
  const next: ReminderState = {
    message_id: messageId,
    for_start: forStart,
    due_at: new Date(due).toISOString(),
  };
  if (await recordReminder(row.id, current?.message_id, next)) {
    await deleteMessage(current?.message_id);
    return next;
  }
  // Someone else recorded a reminder first: theirs stands. It is often this very message (the same
  // deduplication id), which must then stay queued.
  const db = await serviceDb();
  const [now] = await db.select().from(calendarEvents).where(eq(calendarEvents.id, row.id));
  const recorded = now ? reminderOf(now) : undefined;
  if (recorded?.message_id !== messageId) {
    await deleteMessage(messageId);
  }
  return recorded;
}

/**
 * Gives every meeting of the coming week that lacks a reminder for its current start one (a booking
 * whose reminder could not be queued, a meeting added by the frontend before its call prep ran).
 */
export async function sweepReminders(): Promise<number> {
  const db = await serviceDb();
  const rows = await db
    .select()
    .from(calendarEvents)
    .where(
      and(
        inArray(calendarEvents.status, [...liveStatuses] as MeetingRow["status"][]),
        gt(calendarEvents.start_time, new Date().toISOString()),
        lt(calendarEvents.start_time, new Date(Date.now() + maxDelaySeconds * 1000).toISOString()),
        sql`(${calendarEvents.metadata} -> 'reminder' ->> 'for_start') is distinct from to_char(${calendarEvents.start_time} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
      ),
    )
    .limit(500);
  let scheduled = 0;
  for (const row of rows) {
    scheduled += (await ensureReminder(row)) ? 1 : 0;
  }
  return scheduled;
}

/** A cancelled meeting's reminder is deleted from the queue and can no longer raise an alert. */
export async function cancelReminder(row: MeetingRow): Promise<void> {
  const current = reminderOf(row);
  if (!current?.message_id) {
    return;
  }
  const cancelled: ReminderState = {
    ...current,
    message_id: null,
    cancelled_at: new Date().toISOString(),
  };
  if (await recordReminder(row.id, current.message_id, cancelled)) {
    await deleteMessage(current.message_id);
  }
}

/**
 * A reminder message arriving. Only the message recorded on the meeting counts (a moved or cancelled
 * meeting's old one is dropped); one still early, because of QStash's week-long delay limit, is
 * carried forward; otherwise the alert is raised once, in the same transaction that marks it sent.
 */
export async function deliverReminder(
  job: { reminder: string; for_start: string },
  messageId: string,
): Promise<"sent" | "stale" | "carried"> {
  const db = await serviceDb();
  const [row] = await db.select().from(calendarEvents).where(eq(calendarEvents.id, job.reminder));
  const current = row ? reminderOf(row) : undefined;
  if (
    !row ||
    !current ||
    current.message_id !== messageId ||
    current.sent_at ||
    !liveStatuses.has(row.status)
  ) {
    return "stale";
  }
  const start = timestampMs(row.start_time);
  if (new Date(start).toISOString() !== job.for_start) {
    return "stale";
  }
  const due = Date.parse(current.due_at);
  if (due - Date.now() > 60_000) {
    const hop = await publishJob(calendarWorkerPath, job, {
      deduplicationId: `reminder-hop-${messageId}`,
      delaySeconds: Math.min(maxDelaySeconds, Math.ceil((due - Date.now()) / 1000)),
      retries: 3,
    });
    await recordReminder(row.id, messageId, { ...current, message_id: hop });
    return "carried";
  }
  const [lead] = row.lead_id
    ? await db
        .select()
        .from(leads)
        .where(and(eq(leads.id, row.lead_id), eq(leads.workspace_id, row.workspace_id)))
    : [];
  const [script] = await db
    .select({ id: callScripts.id })
    .from(callScripts)
    .where(and(eq(callScripts.calendar_event_id, row.id), eq(callScripts.workspace_id, row.workspace_id)))
    .orderBy(desc(callScripts.created_at))
    .limit(1);
  const minutes = Math.max(0, Math.round((start - Date.now()) / 60_000));
  const who = lead?.name ?? lead?.email ?? row.title;
  return asService(async (tx) => {
    const marked = await tx
      .update(calendarEvents)
      .set({
        metadata: sql`jsonb_set(${calendarEvents.metadata}, '{reminder,sent_at}', to_jsonb(${new Date().toISOString()}::text))`,
      })
      .where(
        and(
          eq(calendarEvents.id, row.id),
          sql`${calendarEvents.metadata} -> 'reminder' ->> 'message_id' = ${messageId}`,
          sql`${calendarEvents.metadata} -> 'reminder' -> 'sent_at' is null`,
        ),
      )
      .returning({ id: calendarEvents.id });
    if (marked.length === 0) {
      return "stale" as const;
    }
    await raiseAlert(
      {
        workspaceId: row.workspace_id,
        userId: row.user_id,
        type: "meeting.reminder",
        severity: "info",
        title: `${row.title} in ${minutes} minutes`.slice(0, 200),
        message: [
          `Your call with ${who}${lead?.company ? ` (${lead.company})` : ""} starts at ${new Date(start).toISOString()}.`,
          row.meeting_url ? `Join: ${row.meeting_url}` : "",
          script ? "The call script is ready." : "No call script was written for it.",
        ]
          .filter(Boolean)
          .join(" "),
        metadata: {
          calendar_event_id: row.id,
          lead_id: row.lead_id,
          call_script_id: script?.id ?? null,
          meeting_url: row.meeting_url,
          start_time: new Date(start).toISOString(),
        },
      },
      tx,
    );
    return "sent" as const;
  });
}
