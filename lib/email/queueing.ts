/**
 * Planning and queuing: approved drafts get a mailbox and a slot (lib/email/plan.ts) and one QStash
 * job each, delayed to the slot. What goes out is re-derived from trusted rows: the recipient is the
 * lead's current address in the workspace, the text must be the text that passed its check, the
 * mailbox is one of the workspace's (of the campaign's set for a first email, the thread's own for a
 * follow-up). Slots are given a day ahead at most (EMAIL_PLAN_AHEAD_HOURS); the rest stay approved and
 * the hourly planning (`planApproved`) tops each mailbox up, follow-ups first, so a follow-up never
 * waits behind weeks of first emails.
 */
import { and, asc, desc, eq, gt, inArray, isNotNull, ne, or, sql } from "drizzle-orm";
import { getConfig } from "../config";
import { campaigns, emailEvents, leads } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { ApiError, toApiError } from "../http/errors";
import type { Logger } from "../log";
import { publishJob } from "../queue";
import { workspaceRow } from "../workspaces/access";
import { draftHash } from "./drafts";
import { senderOf } from "./footer";
import {
  type MailboxRow,
  mailboxById,
  pacingRules,
  senderCheckOf,
  senderRefusal,
  sendingMailboxes,
} from "./mailboxes";
import { newMessageId } from "./mime";
import { type PlanEmail, type PlanMailbox, planBatch } from "./plan";
import { windowsOf } from "./policy";
import { windowKey } from "./window";

export const emailWorkerPath = "/api/workers/email";
type EmailEvent = typeof emailEvents.$inferSelect;

const day = 86_400_000;
/** QStash's longest delay: a later time is reached in hops, each delivery checking again. */
const maxDelayMs = 7 * day;

export function publishEmail(eventId: string, wantedDelayMs: number, deferrals: number) {
  const delayMs = Math.min(wantedDelayMs, maxDelayMs);
  return publishJob(
    emailWorkerPath,
    { event_id: eventId, deferrals },
    {
      // The email event id is the deduplication id; a deferral is a new step of the same email.
      deduplicationId: deferrals === 0 ? `email-${eventId}` : `email-${eventId}-d${deferrals}`,
      retries: 3,
      ...(delayMs > 1000 ? { delaySeconds: Math.ceil(delayMs / 1000) } : {}),
    },
  );
}

/**
 * Send times each mailbox has taken: sent (or being sent) in the last day, and planned. Each with its
 * lead's window key, so the planner's fair shares count what each zone already has.
 */
async function takenSends(
  workspace: Awaited<ReturnType<typeof workspaceRow>>,
  mailboxIds: string[],
  since: number,
): Promise<Map<string, { at: number; window?: string }[]>> {
  const db = await serviceDb();
  const rows = await db
    .select({
      mailbox: emailEvents.mailbox_id,
      sent: emailEvents.sent_at,
      scheduled: emailEvents.scheduled_at,
      zone: leads.time_zone,
      country: leads.country,
    })
    .from(emailEvents)
    .leftJoin(leads, eq(leads.id, emailEvents.lead_id))
    .where(
      and(
        inArray(emailEvents.mailbox_id, mailboxIds),
        or(
          and(isNotNull(emailEvents.sent_at), gt(emailEvents.sent_at, new Date(since).toISOString())),
          and(eq(emailEvents.event_type, "queued"), isNotNull(emailEvents.scheduled_at)),
        ),
      ),
    );
  const taken = new Map<string, { at: number; window?: string }[]>(mailboxIds.map((id) => [id, []]));
  for (const row of rows) {
    const at = row.sent ?? row.scheduled;
    if (!row.mailbox || !at) {
      continue;
    }
    taken.get(row.mailbox)?.push({
      at: timestampMs(`${at}`),
      ...(row.zone ? { window: windowKey(workspace, { timeZone: row.zone, country: row.country }) } : {}),
    });
  }
  return taken;
}

export interface QueueResult {
  queued: { id: string; to: string | null; scheduled_at: string; mailbox: string }[];
  /** Approved, waiting for a slot beyond the planning horizon (the hourly planning gives it one). */
  waiting: { id: string; to: string }[];
  skipped: { id: string; reason: string }[];
}

/** The workspace's mailboxes that may send now; 409 when none may (the sending domain fails its checks). */
async function usableMailboxes(workspaceId: string): Promise<MailboxRow[]> {
  const usable: MailboxRow[] = [];
  let refused: { mailbox: MailboxRow; refusal: string } | undefined;
  for (const mailbox of await sendingMailboxes(workspaceId)) {
    if (mailbox.status !== "active") {
      continue;
    }
    const refusal = senderRefusal(await senderCheckOf(mailbox));
    if (refusal) {
      refused ??= { mailbox, refusal };
    } else {
      usable.push(mailbox);
    }
  }
  if (usable.length === 0 && refused) {
    throw new ApiError("sender_not_authenticated", refused.refusal, {
      details: {
        mailbox: refused.mailbox.address,
        check: (await mailboxById(refused.mailbox.id))?.sender_check ?? null,
      },
    });
  }
  return usable;
}

/**
 * Queues drafts of a workspace for sending (or leaves them approved, waiting for the next planning,
 * when the mailboxes' next day is full). Follow-ups are planned before first emails.
 */
export async function queueEmails(
  workspaceId: string,
  eventIds: string[],
  approvedBy?: string,
): Promise<QueueResult> {
  // Before anything is queued: a workspace without its postal address sends nothing (CAN-SPAM).
  await senderOf(workspaceId);
  const workspace = await workspaceRow(workspaceId);
  const mailboxes = await usableMailboxes(workspaceId);
  const db = await serviceDb();
  const events = await db
    .select()
    .from(emailEvents)
    .where(
      and(
        eq(emailEvents.workspace_id, workspaceId),
        inArray(emailEvents.id, eventIds),
        inArray(emailEvents.event_type, ["drafted", "approved"]),
      ),
    )
    .orderBy(desc(emailEvents.sequence_step), asc(emailEvents.created_at));
  const result: QueueResult = { queued: [], waiting: [], skipped: [] };
  if (events.length === 0) {
    return result;
  }
  const leadIds = [...new Set(events.flatMap((event) => (event.lead_id ? [event.lead_id] : [])))];
  const leadRows = leadIds.length
    ? await db
        .select()
        .from(leads)
        .where(and(eq(leads.workspace_id, workspaceId), inArray(leads.id, leadIds)))
    : [];
  const leadById = new Map(leadRows.map((lead) => [lead.id, lead]));
  const windows = await windowsOf(workspace, leadRows);
  const campaignIds = [...new Set(events.flatMap((event) => (event.campaign_id ? [event.campaign_id] : [])))];
  const campaignSets = new Map(
    (campaignIds.length
      ? await db
          .select({ id: campaigns.id, mailbox_ids: campaigns.mailbox_ids })
          .from(campaigns)
          .where(and(eq(campaigns.workspace_id, workspaceId), inArray(campaigns.id, campaignIds)))
      : []
    ).map((row) => [row.id, row.mailbox_ids]),
  );
  // A follow-up continues from the mailbox its sequence's first email was queued on.
  const threadStarts = leadIds.length
    ? await db
        .select({
          lead: emailEvents.lead_id,
          campaign: emailEvents.campaign_id,
          mailbox: emailEvents.mailbox_id,
        })
        .from(emailEvents)
        .where(
          and(
            eq(emailEvents.workspace_id, workspaceId),
            inArray(emailEvents.lead_id, leadIds),
            eq(emailEvents.sequence_step, 0),
            isNotNull(emailEvents.mailbox_id),
            ne(emailEvents.event_type, "cancelled"),
          ),
        )
        .orderBy(asc(emailEvents.created_at))
    : [];
  const threadMailbox = (event: EmailEvent) =>
    threadStarts.find((row) => row.lead === event.lead_id && row.campaign === event.campaign_id)?.mailbox;

  const usableIds = mailboxes.map((mailbox) => mailbox.id);
  const emails: PlanEmail[] = [];
  const byId = new Map<string, { event: EmailEvent; to: string }>();
  for (const event of events) {
    const meta = event.metadata as { checked_hash?: string };
    const lead = event.lead_id ? leadById.get(event.lead_id) : undefined;
    const window = lead ? windows.get(lead.id) : undefined;
    if (meta.checked_hash !== draftHash(event)) {
      result.skipped.push({ id: event.id, reason: "the text changed since its check; check it again" });
      continue;
    }
    if (!lead?.email || !window) {
      result.skipped.push({ id: event.id, reason: "the lead has no address in this workspace" });
      continue;
    }
    let allowed = usableIds;
    if (event.sequence_step > 0) {
      const own = threadMailbox(event);
      if (!own || !usableIds.includes(own)) {
        result.skipped.push({
          id: event.id,
          reason: own
            ? "the mailbox that started this thread cannot send now"
            : "the thread's first email was never sent",
        });
        continue;
      }
      allowed = [own];
    } else {
      const set = event.campaign_id ? (campaignSets.get(event.campaign_id) ?? []) : [];
      if (set.length > 0) {
        allowed = usableIds.filter((id) => set.includes(id));
        if (allowed.length === 0) {
          result.skipped.push({ id: event.id, reason: "none of the campaign's mailboxes can send now" });
          continue;
        }
      }
    }
    emails.push({ id: event.id, mailboxes: allowed, window });
    byId.set(event.id, { event, to: lead.email });
  }

  const now = Date.now();
  const taken = await takenSends(workspace, usableIds, now - day);
  const plan = planBatch(
    mailboxes.map(
      (mailbox): PlanMailbox => ({
        id: mailbox.id,
        rules: pacingRules(mailbox),
        taken: taken.get(mailbox.id) ?? [],
        ...(mailbox.paused_until ? { notBefore: timestampMs(mailbox.paused_until) } : {}),
      }),
    ),
    emails,
    now,
    { until: now + getConfig().EMAIL_PLAN_AHEAD_HOURS * 3_600_000 },
  );
  const mailboxOf = new Map(mailboxes.map((mailbox) => [mailbox.id, mailbox]));
  // What the approval records: who approved first, and when (a later planning keeps them).
  const approval = JSON.stringify({
    approved_at: new Date(now).toISOString(),
    ...(approvedBy ? { approved_by: approvedBy } : {}),
  });
  for (const slot of plan.planned) {
    const { event, to } = byId.get(slot.id) as { event: EmailEvent; to: string };
    const mailbox = mailboxOf.get(slot.mailbox) as MailboxRow;
    const [row] = await db
      .update(emailEvents)
      .set({
        event_type: "queued",
        mailbox_id: mailbox.id,
        from_email: mailbox.address,
        to_email: to,
        message_id: event.message_id ?? newMessageId(mailbox.address),
        scheduled_at: new Date(slot.at).toISOString(),
        metadata: sql`${approval}::jsonb || ${emailEvents.metadata}`,
      })
      .where(
        and(
          eq(emailEvents.id, event.id),
          inArray(emailEvents.event_type, ["drafted", "approved"]),
          // Unchanged since it was read: an edit in between sends it back to review instead.
          sql`${emailEvents.updated_at} = ${event.updated_at}::timestamptz`,
        ),
      )
      .returning();
    if (row) {
      await publishEmail(row.id, slot.at - now, 0);
      result.queued.push({
        id: row.id,
        to: row.to_email,
        scheduled_at: new Date(slot.at).toISOString(),
        mailbox: mailbox.address,
      });
    } else {
      result.skipped.push({ id: event.id, reason: "the draft changed while it was being queued" });
    }
  }
  for (const id of plan.waiting) {
    const { event, to } = byId.get(id) as { event: EmailEvent; to: string };
    const [row] = await db
      .update(emailEvents)
      .set({ event_type: "approved", metadata: sql`${approval}::jsonb || ${emailEvents.metadata}` })
      .where(
        and(
          eq(emailEvents.id, event.id),
          inArray(emailEvents.event_type, ["drafted", "approved"]),
          sql`${emailEvents.updated_at} = ${event.updated_at}::timestamptz`,
        ),
      )
      .returning({ id: emailEvents.id });
    if (row) {
      result.waiting.push({ id, to });
    } else {
      result.skipped.push({ id, reason: "the draft changed while it was being queued" });
    }
  }
  for (const item of plan.unplaced) {
    result.skipped.push(item);
  }
  return result;
}

/**
 * The hourly planning: every workspace's approved emails that wait for a slot get the ones that
 * freed up, follow-ups first. One workspace failing (its sending domain, its postal address) is
 * recorded and the others still run.
 */
export async function planApproved(log: Logger) {
  const db = await serviceDb();
  const waiting = await db
    .selectDistinct({ workspace: emailEvents.workspace_id })
    .from(emailEvents)
    .where(eq(emailEvents.event_type, "approved"));
  let queued = 0;
  let stillWaiting = 0;
  const failures: { workspace_id: string; error: string }[] = [];
  for (const { workspace } of waiting) {
    try {
      const ids = await db
        .select({ id: emailEvents.id })
        .from(emailEvents)
        .where(and(eq(emailEvents.workspace_id, workspace), eq(emailEvents.event_type, "approved")))
        .orderBy(desc(emailEvents.sequence_step), asc(emailEvents.created_at))
        .limit(5000);
      const result = await queueEmails(
        workspace,
        ids.map((row) => row.id),
      );
      queued += result.queued.length;
      stillWaiting += result.waiting.length;
    } catch (error) {
      failures.push({ workspace_id: workspace, error: toApiError(error).message });
      log.error({ err: error, workspace }, "planning approved emails failed");
    }
  }
  return { queued, waiting: stillWaiting, failures };
}

/** Stops a workspace's unsent emails to these leads (a company-wide stop after a reply). */
export async function stopQueuedFor(workspaceId: string, leadIds: string[], reason: string): Promise<number> {
  if (leadIds.length === 0) {
    return 0;
  }
  const db = await serviceDb();
  const stopped = await db
    .update(emailEvents)
    .set({ event_type: "cancelled", error: reason })
    .where(
      and(
        eq(emailEvents.workspace_id, workspaceId),
        inArray(emailEvents.lead_id, leadIds),
        inArray(emailEvents.event_type, ["drafted", "approved", "queued"]),
      ),
    )
    .returning({ id: emailEvents.id });
  return stopped.length;
}
