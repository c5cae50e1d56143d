import { and, desc, eq, sql } from "drizzle-orm";
import { z } from "zod";
import { type BookingTarget, book, existingMeeting } from "../booking/book";
import { asUser } from "../db/as-user";
import { callScripts, emailEvents, leads, productInsights } from "../db/schema";
import { serviceDb } from "../db/service";
import { isValidTimeZone } from "../local-time";
import {
  type AgentDefinition,
  type AgentOutcome,
  agentRequest,
  askModel,
  ownRow,
  type RunContext,
  type Scope,
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
    time_zone: timeZone.optional().describe("IANA time zone for working hours (default: the workspace's)"),
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

interface Source {
  ref: string;
  kind: "lead" | "email" | "insight";
  text: string;
}

async function sourcesFor(scope: Scope, lead: LeadRow | undefined): Promise<Source[]> {
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
  const [emails, insights] = await asUser({ id: scope.user.id }, async (tx) => [
    lead
      ? await tx
          .select()
          .from(emailEvents)
          .where(
            and(
              eq(emailEvents.workspace_id, scope.workspace.id),
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
      .where(eq(productInsights.workspace_id, scope.workspace.id))
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

async function run(ctx: RunContext<BookingRequest>): Promise<AgentOutcome> {
  const { user, workspace, task } = ctx;
  const target: BookingTarget = { workspaceId: workspace.id, userId: user.id, taskId: task.id, log: ctx.log };
  const existing = ctx.input.calendar_event_id
    ? await existingMeeting(target, ctx.input.calendar_event_id)
    : undefined;
  const leadId = ctx.input.lead_id ?? existing?.meeting.lead_id ?? undefined;
  const input = { ...ctx.input, ...(leadId ? { lead_id: leadId } : {}) };
  const lead = input.lead_id ? await ownRow(ctx, leads, input.lead_id, "lead") : undefined;
  const booking =
    existing?.booking ??
    (await book(
      target,
      {
        meetingType: input.meeting_type,
        scheduledTime: input.scheduled_time,
        window: input.window,
        durationMinutes: input.duration_minutes,
        timeZone: input.time_zone,
        bookFirstFree: input.book_first_free,
        note: input.prompt,
      },
      lead,
    ));
  const sources = await sourcesFor(ctx, lead);
  const { data, usage, encoded } = await askModel({
    agent: "booking-callprep",
    workspaceId: workspace.id,
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
  const db = await serviceDb();
  const [saved] = await db
    .insert(callScripts)
    .values({
      workspace_id: workspace.id,
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
    .returning();
  const bookingText = existing
    ? `Call prep for the meeting on ${booking.start}.`
    : booking.booked
      ? `Booked for ${booking.start}${booking.calendar_touched ? "" : " (not in Google Calendar: the workspace has no Google account connected)"}${booking.meeting_url ? `, link ${booking.meeting_url}` : ""}.`
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
