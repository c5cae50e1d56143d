import { createHash } from "node:crypto";
import { and, desc, eq, sql } from "drizzle-orm";
import { z } from "zod";
import { ensureReminder } from "../booking/reminders";
import { freeSlots, isValidTimeZone, parseWorkingHours, withinWorkingHours } from "../booking/slots";
import { bookedByTaskProperty } from "../booking/sync";
import { getConfig } from "../config";
import { asUser } from "../db/as-user";
import { calendarEvents, callScripts, emailEvents, leads, productInsights } from "../db/schema";
import { timestampMs } from "../db/timestamps";
import type { BusinessCalendar } from "../google/calendar";
import { googleStatus } from "../google/errors";
import { ApiError } from "../http/errors";
import type { Logger } from "../log";
import {
  type AgentDefinition,
  type AgentOutcome,
  agentRequest,
  askModel,
  ownRow,
  type RunContext,
} from "./runtime";

const timeZone = z.string().refine(isValidTimeZone, "not an IANA time zone");

export const bookingRequest = agentRequest
  .extend({
    prompt: z.string().trim().min(1).max(8000).default("Prepare me for this call."),
    lead_id: z.uuid().optional(),
    meeting_type: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,31}$/)
      .default("discovery"),
    scheduled_time: z.iso.datetime({ offset: true }).optional().describe("Book exactly this start, if free"),
    duration_minutes: z.int().min(15).max(240).default(30),
    window: z
      .object({ earliest: z.iso.datetime({ offset: true }), latest: z.iso.datetime({ offset: true }) })
      .optional()
      .describe("Where to look for free slots when no scheduled_time is given (default: the next 7 days)"),
    time_zone: timeZone.optional().describe("IANA time zone for working hours (default DEFAULT_TIME_ZONE)"),
    book_first_free: z.boolean().default(false).describe("Without scheduled_time: book the first free slot"),
    calendar_event_id: z
      .uuid()
      .optional()
      .describe("Prepare the call for this existing meeting; nothing is booked"),
  })
  .refine(
    (body) => !body.calendar_event_id || (!body.scheduled_time && !body.window && !body.book_first_free),
    {
      message:
        "calendar_event_id prepares an existing meeting: leave out scheduled_time, window and book_first_free",
      path: ["calendar_event_id"],
    },
  )
  .refine((body) => !body.window || Date.parse(body.window.earliest) < Date.parse(body.window.latest), {
    message: "window.earliest must be before window.latest",
    path: ["window"],
  });
export type BookingRequest = z.infer<typeof bookingRequest>;

type LeadRow = typeof leads.$inferSelect;

const cited = z.array(z.string()).describe("Refs of the sources this part draws on, exactly as given");
const scriptSchema = z.object({
  opening: z.object({ text: z.string(), sources: cited }),
  discovery_questions: z.array(z.object({ question: z.string(), sources: cited })),
  value_proposition: z.object({ text: z.string(), sources: cited }),
  objection_handling: z.array(z.object({ objection: z.string(), response: z.string(), sources: cited })),
  next_steps: z.array(z.object({ text: z.string(), sources: cited })),
  response: z.string().describe("The script as readable text for the user"),
});

const system = `You are Morgan, who books calls and prepares call scripts for a small business's AI team.
Write a call script grounded only in the sources in the context: the lead's data, the email thread
and the product insights. Every part cites the refs of the sources it draws on; do not invent facts
about the lead. Reply with JSON only, matching the schema.`;

/** A Google event id from the task: the same request can only ever create the same event. */
function eventIdFor(seed: string): string {
  // Hex is inside Calendar's base32hex alphabet (a–v, 0–9).
  return createHash("sha256").update(`booking:${seed}`).digest("hex").slice(0, 40);
}

/**
 * The meeting's reminder. A queue failure does not undo a booking: the hourly calendar-watch run
 * schedules any reminder still missing.
 */
async function remindOf(meeting: typeof calendarEvents.$inferSelect, log: Logger): Promise<void> {
  try {
    await ensureReminder(meeting);
  } catch (error) {
    log.warn({ err: error, meeting: meeting.id }, "meeting reminder not queued; the hourly sweep retries");
  }
}

interface Booking {
  booked: boolean;
  calendar_touched: boolean;
  start: string | null;
  reason: string | null;
  proposals: { start: string; end: string }[];
  calendar_event_id: string | null;
  google_event_id: string | null;
  meeting_url: string | null;
}

async function insertEvent(
  cal: BusinessCalendar,
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
) {
  const requestBody = {
    id,
    // Lets the calendar sync know this meeting's row and script are the agent's to write.
    extendedProperties: { private: { [bookedByTaskProperty]: body.taskId } },
    summary: body.summary,
    description: body.description,
    start: { dateTime: body.start.toISOString(), timeZone: body.timeZone },
    end: { dateTime: body.end.toISOString(), timeZone: body.timeZone },
    attendees: body.attendee ? [{ email: body.attendee }] : [],
  };
  try {
    const { data } = await cal.api.events.insert({
      calendarId: cal.id,
      conferenceDataVersion: 1,
      sendUpdates: "all",
      requestBody: {
        ...requestBody,
        conferenceData: { createRequest: { requestId: id, conferenceSolutionKey: { type: "hangoutsMeet" } } },
      },
    });
    return data;
  } catch (error) {
    const status = googleStatus(error);
    if (status === 409) {
      // Already booked by an earlier attempt of this same request.
      return (await cal.api.events.get({ calendarId: cal.id, eventId: id })).data;
    }
    if (status === 400 && /conference/i.test(String((error as Error).message))) {
      // The account has no Meet: the meeting is booked without a link.
      return (await cal.api.events.insert({ calendarId: cal.id, sendUpdates: "all", requestBody })).data;
    }
    throw new ApiError("upstream_error", `Google Calendar refused the booking: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function book(ctx: RunContext<BookingRequest>, lead: LeadRow | undefined): Promise<Booking> {
  const { input, user, task } = ctx;
  const config = getConfig();
  const zone = input.time_zone ?? config.DEFAULT_TIME_ZONE;
  const hours = parseWorkingHours(config.WORKING_HOURS, config.WORKING_DAYS);
  const duration = input.duration_minutes;
  // Google's Calendar client is loaded by a booking only: call prep and the docs never need it.
  const { businessCalendar, busyBetween } = await import("../google/calendar");
  const cal = businessCalendar();
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
  const from = input.scheduled_time
    ? Date.parse(input.scheduled_time)
    : Math.max(Date.now() + 3_600_000, Date.parse(input.window?.earliest ?? "") || 0);
  const to = input.scheduled_time
    ? from + duration * 60_000
    : Date.parse(input.window?.latest ?? "") || Date.now() + 7 * 86_400_000;
  const busy = cal
    ? await busyBetween(cal, new Date(from), new Date(Math.max(to, from + 14 * 86_400_000)))
    : [];

  let start: number | undefined;
  if (input.scheduled_time) {
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
    if (input.book_first_free && result.proposals[0]) {
      start = Date.parse(result.proposals[0].start);
    } else if (result.proposals.length === 0) {
      result.reason = "no free slot in the window and working hours";
    }
  }
  if (start === undefined) {
    return result;
  }

  const summary = `${input.meeting_type[0]?.toUpperCase()}${input.meeting_type.slice(1)} call${lead ? ` with ${lead.name ?? lead.email ?? "lead"}${lead.company ? ` (${lead.company})` : ""}` : ""}`;
  const event = cal
    ? await insertEvent(cal, eventIdFor(task.id), {
        summary,
        description: `Booked by the AI team's booking agent. ${input.prompt}`.slice(0, 2000),
        start: new Date(start),
        end: new Date(start + duration * 60_000),
        timeZone: zone,
        attendee: lead?.email ?? null,
        taskId: task.id,
      })
    : undefined;
  const values = {
    user_id: user.id,
    lead_id: lead?.id ?? null,
    task_id: task.id,
    title: summary.slice(0, 500),
    description: input.prompt,
    start_time: new Date(start).toISOString(),
    duration_minutes: duration,
    time_zone: zone,
    status: "scheduled" as const,
    sync_status: event ? ("synced" as const) : ("not_synced" as const),
    google_calendar_id: event ? (cal?.id ?? null) : null,
    google_event_id: event?.id ?? null,
    ical_uid: event?.iCalUID ?? null,
    meeting_url: event?.hangoutLink ?? null,
    attendees: lead?.email ? [{ email: lead.email, name: lead.name }] : [],
    metadata: event ? {} : { note: "No Google credentials: the calendar was not touched" },
  };
  const [row] = await asUser({ id: user.id }, async (tx) => {
    if (event?.id) {
      const [existing] = await tx
        .select({ id: calendarEvents.id })
        .from(calendarEvents)
        .where(and(eq(calendarEvents.user_id, user.id), eq(calendarEvents.google_event_id, event.id)));
      if (existing) {
        return tx.update(calendarEvents).set(values).where(eq(calendarEvents.id, existing.id)).returning();
      }
    }
    return tx.insert(calendarEvents).values(values).returning();
  });
  if (row) {
    await remindOf(row, ctx.log);
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

interface Source {
  ref: string;
  kind: "lead" | "email" | "insight";
  text: string;
}

async function sourcesFor(userId: string, lead: LeadRow | undefined): Promise<Source[]> {
  const sources: Source[] = [];
  if (lead) {
    for (const [field, value] of Object.entries({
      name: lead.name,
      role: lead.role,
      company: lead.company,
      website: lead.website,
      location: lead.location,
      industry: lead.industry,
      status: lead.status,
    })) {
      if (value) {
        sources.push({ ref: `lead.${field}`, kind: "lead", text: value });
      }
    }
    for (const reason of (lead.score_reasons as { factor: string; reason: string }[]).slice(0, 5)) {
      sources.push({ ref: `lead.score.${reason.factor}`, kind: "lead", text: reason.reason });
    }
  }
  const [emails, insights] = await asUser({ id: userId }, async (tx) => [
    lead
      ? await tx
          .select()
          .from(emailEvents)
          .where(
            and(
              eq(emailEvents.user_id, userId),
              eq(emailEvents.lead_id, lead.id),
              sql`${emailEvents.event_type} in ('sent', 'outboxed', 'replied')`,
            ),
          )
          .orderBy(emailEvents.created_at, emailEvents.id)
          .limit(10)
      : [],
    await tx
      .select()
      .from(productInsights)
      .where(eq(productInsights.user_id, userId))
      .orderBy(desc(productInsights.created_at))
      .limit(5),
  ]);
  emails.forEach((email, index) => {
    const who = email.event_type === "replied" ? "their reply" : "our email";
    sources.push({
      ref: `email.${index + 1}`,
      kind: "email",
      text: `${who}: ${email.subject ?? ""} — ${(email.body_text ?? "").slice(0, 400)}`,
    });
  });
  (insights as (typeof productInsights.$inferSelect)[]).forEach((insight, index) => {
    sources.push({
      ref: `insight.${index + 1}`,
      kind: "insight",
      text: `${insight.title}: ${(insight.content ?? "").slice(0, 300)}`,
    });
  });
  return sources;
}

/** An existing meeting of the user's (call prep only), as the booking result would describe it. */
async function existingMeeting(
  userId: string,
  eventId: string,
  log: Logger,
): Promise<{ booking: Booking; leadId: string | null }> {
  const meeting = await ownRow(userId, calendarEvents, eventId, "meeting");
  // A meeting the frontend added gets its reminder here (a no-op when it has one).
  await remindOf(meeting, log);
  return {
    leadId: meeting.lead_id,
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

async function run(ctx: RunContext<BookingRequest>): Promise<AgentOutcome> {
  const { user, task } = ctx;
  const existing = ctx.input.calendar_event_id
    ? await existingMeeting(user.id, ctx.input.calendar_event_id, ctx.log)
    : undefined;
  const input =
    existing?.leadId && !ctx.input.lead_id ? { ...ctx.input, lead_id: existing.leadId } : ctx.input;
  const lead = input.lead_id ? await ownRow(user.id, leads, input.lead_id, "lead") : undefined;
  const booking = existing?.booking ?? (await book(ctx, lead));
  const sources = await sourcesFor(user.id, lead);
  const { data, usage, encoded } = await askModel({
    agent: "booking-callprep",
    userId: user.id,
    system,
    context: {
      meeting: {
        type: input.meeting_type,
        start: booking.start ?? input.scheduled_time ?? null,
        minutes: input.duration_minutes,
      },
      sources: sources.map(({ ref, kind, text }) => ({ ref, kind, text })),
    },
    prompt: input.prompt,
    schema: scriptSchema,
    schemaName: "call_script",
    temperature: 0.3,
    maxTokens: 3000,
  });
  // Only sources that exist count; a part left with none is marked ungrounded.
  const known = new Set(sources.map((source) => source.ref));
  const unknown = new Set<string>();
  const keep = (refs: string[]) =>
    refs.filter((ref) => {
      if (!known.has(ref)) {
        unknown.add(ref);
      }
      return known.has(ref);
    });
  const script = {
    opening: { ...data.opening, sources: keep(data.opening.sources) },
    discovery_questions: data.discovery_questions.map((q) => ({ ...q, sources: keep(q.sources) })),
    value_proposition: { ...data.value_proposition, sources: keep(data.value_proposition.sources) },
    objection_handling: data.objection_handling.map((o) => ({ ...o, sources: keep(o.sources) })),
    next_steps: data.next_steps.map((s) => ({ ...s, sources: keep(s.sources) })),
  };
  const used = new Set(
    [
      script.opening,
      script.value_proposition,
      ...script.discovery_questions,
      ...script.objection_handling,
      ...script.next_steps,
    ].flatMap((part) => part.sources),
  );
  const [saved] = await asUser({ id: user.id }, (tx) =>
    tx
      .insert(callScripts)
      .values({
        user_id: user.id,
        lead_id: lead?.id ?? null,
        calendar_event_id: booking.calendar_event_id,
        task_id: task.id,
        meeting_type: input.meeting_type,
        script,
        response: data.response,
        sources: sources.filter((source) => used.has(source.ref)),
        metadata: { uncited_refs_dropped: [...unknown] },
      })
      .returning(),
  );
  const bookingText = existing
    ? `Call prep for the meeting on ${booking.start}.`
    : booking.booked
      ? `Booked for ${booking.start}${booking.calendar_touched ? "" : " (not in Google Calendar: no credentials configured)"}${booking.meeting_url ? `, link ${booking.meeting_url}` : ""}.`
      : booking.proposals.length
        ? `Not booked${booking.reason ? ` (${booking.reason})` : ""}; free: ${booking.proposals.map((p) => p.start).join(", ")}.`
        : booking.reason
          ? `Not booked: ${booking.reason}.`
          : "";
  return {
    result: {
      response: [bookingText, data.response].filter(Boolean).join("\n\n"),
      booking,
      call_script: { id: saved?.id, ...script },
    },
    usage,
    context: encoded,
  };
}

export const bookingCallprep: AgentDefinition<BookingRequest> = {
  name: "booking-callprep",
  summary:
    "Books the meeting in Google Calendar (free/busy checked, the lead invited, a Meet link where available; first free slots proposed otherwise) and writes a call script grounded in the lead's data, email thread and product insights, each part citing its sources",
  input: bookingRequest as unknown as z.ZodType<BookingRequest>,
  run,
};
