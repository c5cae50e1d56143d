import { and, desc, eq, gte, inArray } from "drizzle-orm";
import { z } from "zod";
import { asUser } from "../db/as-user";
import { campaigns, emailEvents, leadStatuses, leads } from "../db/schema";
import { queueEmails } from "../email/send";
import { isSuppressed } from "../email/suppression";
import { senderAddress } from "../google/gmail";
import { ApiError } from "../http/errors";
import { noModelCall } from "../llm/complete";
import { type AgentDefinition, type AgentOutcome, agentRequest, askModel, type RunContext } from "./runtime";

const maxLeads = 25;

export const outboundRequest = agentRequest
  .extend({
    prompt: z.string().trim().min(1).max(8000).default("Write a short, personal first email to each lead."),
    lead_ids: z.array(z.uuid()).min(1).max(maxLeads).optional(),
    filter: z
      .object({
        status: z.enum(leadStatuses).default("new"),
        min_score: z.int().min(0).max(100).default(0),
        limit: z.int().min(1).max(maxLeads).default(10),
      })
      .optional()
      .describe("Leads to write to when no lead_ids are given"),
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
    const filter = input.filter ?? { status: "new" as const, min_score: 0, limit: 10 };
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
    ? (
        await asUser({ id: user.id }, (tx) =>
          tx
            .select()
            .from(campaigns)
            .where(and(eq(campaigns.id, input.campaign_id as string), eq(campaigns.user_id, user.id))),
        )
      )[0]
    : undefined;
  if (input.campaign_id && !campaign) {
    throw new ApiError("not_found", "No such campaign of yours");
  }
  const refs = new Map(writable.map((lead, index) => [`L${index + 1}`, lead]));
  const { data, usage, encoded } = await askModel({
    agent: "outbound-emailer",
    userId: user.id,
    system,
    context: {
      sender: senderAddress(),
      campaign: campaign
        ? { name: campaign.name, audience: campaign.audience ?? "", message: campaign.message ?? "" }
        : null,
      template: input.template ?? "",
      leads: [...refs.entries()].map(([ref, lead]) => ({
        ref,
        name: lead.name ?? "",
        role: lead.role ?? "",
        company: lead.company ?? "",
        website: lead.website ?? "",
        location: lead.location ?? "",
        industry: lead.industry ?? "",
      })),
    },
    prompt: input.prompt,
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
    rows.push({
      user_id: user.id,
      lead_id: lead.id,
      campaign_id: campaign?.id ?? null,
      task_id: task.id,
      event_type: "drafted",
      to_email: lead.email,
      subject: email.subject.slice(0, 300),
      body_text: email.body_text,
      body_html: email.body_html,
      metadata: {
        facts_used: email.facts_used,
        unsupported_facts: unsupported,
        needs_review: unsupported.length > 0,
      },
    });
  }
  for (const lead of writable) {
    if (!rows.some((row) => row.lead_id === lead.id)) {
      skipped.push({ lead_id: lead.id, reason: "the model wrote no email for this lead" });
    }
  }
  const drafted = rows.length
    ? await asUser({ id: user.id }, (tx) => tx.insert(emailEvents).values(rows).returning())
    : [];
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
        data.response,
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
