import { and, desc, eq, gte, inArray } from "drizzle-orm";
import { z } from "zod";
import { asUser } from "../db/as-user";
import { campaigns, emailEvents, leadStatuses, leads } from "../db/schema";
import { queueEmails } from "../email/send";
import { senderAddress } from "../email/sender";
import { isSuppressed } from "../email/suppression";
import { ApiError } from "../http/errors";
import { noModelCall } from "../llm/complete";
import {
  type AgentDefinition,
  type AgentOutcome,
  agentRequest,
  askModel,
  ownRow,
  type RunContext,
} from "./runtime";

const maxLeads = 25;

const leadFilter = z.object({
  status: z.enum(leadStatuses).default("new"),
  min_score: z.coerce.number().int().min(0).max(100).default(0),
  limit: z.coerce.number().int().min(1).max(maxLeads).default(10),
});

export const outboundRequest = agentRequest
  .extend({
    prompt: z.string().trim().min(1).max(8000).default("Write a short, personal first email to each lead."),
    lead_ids: z.array(z.uuid()).min(1).max(maxLeads).optional(),
    filter: leadFilter
      .optional()
      .describe(
        "Leads to write to when no lead_ids are given (also read from context.status / context.min_score)",
      ),
    campaign_id: z.uuid().optional(),
    template: z
      .string()
      .max(4000)
      .optional()
      .describe("Guidance for the emails: tone, offer, call to action"),
    mode: z
      .enum(["draft", "send"])
      .default("draft")
      .describe("draft: write and store; send: also queue for sending"),
    event_ids: z
      .array(z.uuid())
      .min(1)
      .max(100)
      .optional()
      .describe("Approve these drafts and send them (with mode: send); no new emails are written"),
  })
  .refine((body) => !body.event_ids || body.mode === "send", {
    message: "event_ids approves drafts for sending: use mode 'send'",
    path: ["mode"],
  })
  .superRefine((body, ctx) => {
    if (!body.lead_ids && !body.filter && !body.event_ids && body.context) {
      const filter = leadFilter.safeParse(body.context);
      for (const issue of filter.success ? [] : filter.error.issues) {
        ctx.addIssue({
          code: "custom",
          path: ["context", ...issue.path.map(String)],
          message: issue.message,
        });
      }
    }
  });
export type OutboundRequest = z.infer<typeof outboundRequest>;

const emailSchema = z.object({
  emails: z.array(
    z.object({
      lead_ref: z.string().describe("The lead's ref, exactly as given"),
      subject: z.string().describe("Under 70 characters, specific to this lead"),
      body_text: z.string().describe("Plain text, 60–140 words, no placeholders"),
      body_html: z.string().describe("The same email as simple HTML paragraphs"),
      facts_used: z.array(z.string()).describe("Each fact about the lead used, quoted from the lead data"),
    }),
  ),
  response: z.string().describe("One or two sentences for the user about these drafts"),
});

const system = `You are Jordan, the outbound emailer of a small business's AI team.
Write one short, personal, honest email per lead. Use only the lead data and campaign in the context:
never invent a fact, a mutual contact, a compliment or a number. List every fact about the lead you
used in facts_used, quoted exactly from the lead data. No placeholders like [Name]. Reply with JSON
only, matching the schema.`;

type LeadRow = typeof leads.$inferSelect;

/** The values a lead's data supports; a fact the model lists must be found among them. */
function leadFacts(lead: LeadRow): string[] {
  return [lead.name, lead.role, lead.company, lead.website, lead.location, lead.industry]
    .filter((value): value is string => Boolean(value))
    .map((value) => value.toLowerCase());
}

const supported = (fact: string, lead: LeadRow) => {
  const needle = fact.toLowerCase().trim();
  return leadFacts(lead).some((value) => value.includes(needle) || needle.includes(value));
};

async function selectLeads(userId: string, input: OutboundRequest): Promise<LeadRow[]> {
  return asUser({ id: userId }, (tx) => {
    if (input.lead_ids) {
      return tx
        .select()
        .from(leads)
        .where(and(eq(leads.user_id, userId), inArray(leads.id, input.lead_ids)));
    }
    // The prompt-style body: the filter may come in the context, as the prototype's callers send it.
    const filter = input.filter ?? leadFilter.parse(input.context ?? {}); // checked at the boundary
    return tx
      .select()
      .from(leads)
      .where(
        and(eq(leads.user_id, userId), eq(leads.status, filter.status), gte(leads.score, filter.min_score)),
      )
      .orderBy(desc(leads.score))
      .limit(filter.limit);
  });
}

async function approveDrafts({ user, input }: RunContext<OutboundRequest>): Promise<AgentOutcome> {
  const drafts = await asUser({ id: user.id }, (tx) =>
    tx
      .select({ id: emailEvents.id, event_type: emailEvents.event_type })
      .from(emailEvents)
      .where(and(eq(emailEvents.user_id, user.id), inArray(emailEvents.id, input.event_ids ?? []))),
  );
  const approvable = drafts.filter(
    (draft) => draft.event_type === "drafted" || draft.event_type === "approved",
  );
  if (approvable.length === 0) {
    throw new ApiError(
      "unprocessable_entity",
      "None of these emails is a draft of yours waiting to be sent",
      {
        retryable: false,
      },
    );
  }
  const queued = await queueEmails(
    user.id,
    approvable.map((draft) => draft.id),
  );
  const skipped = drafts
    .filter((draft) => !approvable.includes(draft))
    .map((d) => ({ id: d.id, status: d.event_type }));
  return {
    result: {
      response: `Queued ${queued.length} email${queued.length === 1 ? "" : "s"} for sending, paced for the mailbox.`,
      emails: queued,
      skipped,
    },
    usage: noModelCall(),
  };
}

type CampaignRow = typeof campaigns.$inferSelect;

export interface DraftRequest {
  userId: string;
  leads: LeadRow[];
  campaign: CampaignRow | undefined;
  template?: string | undefined;
  prompt: string;
  taskId?: string | null;
  /** For a follow-up: its step, the step's instructions, and the subject of each lead's thread. */
  followUp?: { step: number; instructions: string; subjects: Map<string, string> };
}

/**
 * One model turn writes an email per lead from the lead's data (and the campaign, template and, for a
 * follow-up, the step's instructions); each fact it lists is checked against the lead, and the
 * emails are stored as drafts. A follow-up keeps its thread's subject.
 */
export async function writeDrafts(request: DraftRequest) {
  const { userId, campaign, followUp } = request;
  const refs = new Map(request.leads.map((lead, index) => [`L${index + 1}`, lead]));
  const { data, usage, encoded } = await askModel({
    agent: "outbound-emailer",
    userId,
    system,
    context: {
      sender: senderAddress(),
      campaign: campaign
        ? { name: campaign.name, audience: campaign.audience ?? "", message: campaign.message ?? "" }
        : null,
      template: request.template ?? "",
      follow_up: followUp ? { step: followUp.step, instructions: followUp.instructions } : null,
      leads: [...refs.entries()].map(([ref, lead]) => ({
        ref,
        name: lead.name ?? "",
        role: lead.role ?? "",
        company: lead.company ?? "",
        website: lead.website ?? "",
        location: lead.location ?? "",
        industry: lead.industry ?? "",
        ...(followUp ? { previous_subject: followUp.subjects.get(lead.id) ?? "" } : {}),
      })),
    },
    prompt: request.prompt,
    schema: emailSchema,
    schemaName: "outbound_emails",
    temperature: 0.4,
    maxTokens: 4000,
  });

  const rows: (typeof emailEvents.$inferInsert)[] = [];
  for (const email of data.emails) {
    const lead = refs.get(email.lead_ref);
    if (!lead || rows.some((row) => row.lead_id === lead.id)) {
      continue;
    }
    const unsupported = email.facts_used.filter((fact) => !supported(fact, lead));
    const threadSubject = followUp?.subjects.get(lead.id);
    rows.push({
      user_id: userId,
      lead_id: lead.id,
      campaign_id: campaign?.id ?? null,
      task_id: request.taskId ?? null,
      event_type: "drafted",
      to_email: lead.email,
      subject: (threadSubject ? `Re: ${threadSubject.replace(/^re:\s*/i, "")}` : email.subject).slice(0, 300),
      body_text: email.body_text,
      body_html: email.body_html,
      sequence_step: followUp?.step ?? 0,
      metadata: {
        facts_used: email.facts_used,
        unsupported_facts: unsupported,
        needs_review: unsupported.length > 0,
      },
    });
  }
  const drafted = rows.length
    ? await asUser({ id: userId }, (tx) => tx.insert(emailEvents).values(rows).returning())
    : [];
  const unwritten = request.leads
    .filter((lead) => !rows.some((row) => row.lead_id === lead.id))
    .map((l) => l.id);
  return { drafted, unwritten, usage, encoded, summary: data.response };
}

async function run(ctx: RunContext<OutboundRequest>): Promise<AgentOutcome> {
  const { user, input, task } = ctx;
  if (input.event_ids) {
    return approveDrafts(ctx);
  }
  const candidates = await selectLeads(user.id, input);
  const skipped: { lead_id: string; reason: string }[] = [];
  const writable: LeadRow[] = [];
  for (const lead of candidates) {
    if (!lead.email) {
      skipped.push({ lead_id: lead.id, reason: "no email address" });
    } else if (
      ["replied", "unsubscribed", "bounced", "meeting_booked", "unqualified"].includes(lead.status)
    ) {
      skipped.push({ lead_id: lead.id, reason: `lead is ${lead.status}` });
    } else if (await isSuppressed(user.id, lead.email)) {
      skipped.push({ lead_id: lead.id, reason: "address is suppressed" });
    } else {
      writable.push(lead);
    }
  }
  if (writable.length === 0) {
    return {
      result: { response: "No lead to write to: each was skipped (see skipped).", emails: [], skipped },
      usage: noModelCall(),
    };
  }
  const campaign = input.campaign_id
    ? await ownRow(user.id, campaigns, input.campaign_id, "campaign")
    : undefined;
  const { drafted, unwritten, usage, encoded, summary } = await writeDrafts({
    userId: user.id,
    leads: writable,
    campaign,
    template: input.template,
    prompt: input.prompt,
    taskId: task.id,
  });
  for (const leadId of unwritten) {
    skipped.push({ lead_id: leadId, reason: "the model wrote no email for this lead" });
  }
  // Drafts whose claims the lead data does not support are kept for review, never sent unread.
  const sendable = drafted.filter((row) => !(row.metadata as { needs_review: boolean }).needs_review);
  const queued =
    input.mode === "send"
      ? await queueEmails(
          user.id,
          sendable.map((row) => row.id),
        )
      : [];
  const review = drafted.length - sendable.length;
  return {
    result: {
      response: [
        summary,
        `${drafted.length} draft${drafted.length === 1 ? "" : "s"} written${input.mode === "send" ? `, ${queued.length} queued for sending` : ""}.`,
        review ? `${review} need${review === 1 ? "s" : ""} review: a claim was not in the lead data.` : "",
      ]
        .filter(Boolean)
        .join(" "),
      emails: drafted.map((row) => ({
        id: row.id,
        lead_id: row.lead_id,
        to: row.to_email,
        subject: row.subject,
        status: queued.some((q) => q.id === row.id) ? "queued" : row.event_type,
        facts_used: (row.metadata as { facts_used: string[] }).facts_used,
        needs_review: (row.metadata as { needs_review: boolean }).needs_review,
      })),
      skipped,
    },
    usage,
    context: encoded,
  };
}

export const outboundEmailer: AgentDefinition<OutboundRequest> = {
  name: "outbound-emailer",
  summary:
    "Personalised emails per lead from the lead's own data (facts listed and checked), stored as drafts; mode send (or event_ids to approve drafts) queues them through Gmail with pacing and one-click unsubscribe",
  input: outboundRequest as unknown as z.ZodType<OutboundRequest>,
  run,
};
