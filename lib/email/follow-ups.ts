import { and, eq, inArray, isNotNull, sql } from "drizzle-orm";
import { z } from "zod";
import { writeDrafts } from "../agents/outbound-emailer";
import { rowsOf } from "../db/client";
import { campaigns, emailEvents, leads } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { tryLock } from "../lock";
import type { Logger } from "../log";
import { queueEmails } from "./send";

/** A campaign's follow-up steps: days after the first email, and what the follow-up should do. */
export const campaignStep = z.object({
  day_offset: z.number().min(0).max(365),
  instructions: z.string().min(1).max(2000),
});
const steps = z.array(campaignStep).max(10);

const stillOpen = ["new", "contacted", "engaged"] as const;

interface DueStep {
  userId: string;
  campaignId: string;
  leadId: string;
  step: number;
  subject: string;
}

/**
 * Hourly: for every lead whose last email in a running campaign is step n and whose step n+1 is due
 * (its day offset after the first email has passed), writes the follow-up from the lead's data and
 * the step's instructions and queues it in the same thread. Leads that replied, bounced,
 * unsubscribed or are paused — or whose company replied — get none; the send-time checks apply too.
 * Runs once at a time; a step already written for a lead is never written again.
 */
export async function runFollowUps(log: Logger, now = Date.now()) {
  const lock = await tryLock("cron:follow-ups", 15 * 60_000);
  if (!lock) {
    return { skipped: "already running" };
  }
  try {
    const db = await serviceDb();
    // Per (lead, campaign): the highest step sent so far and when the sequence started.
    const progress = rowsOf<{
      user_id: string;
      lead_id: string;
      campaign_id: string;
      last_step: number;
      started_at: string;
      subject: string;
    }>(
      await db.execute(sql`
        select e.user_id, e.lead_id, e.campaign_id, max(e.sequence_step)::int as last_step,
          min(e.sent_at)::text as started_at,
          (array_agg(e.subject order by e.sequence_step))[1] as subject
        from ${emailEvents} e
        join ${campaigns} c on c.id = e.campaign_id
        where e.event_type in ('sent', 'outboxed') and e.lead_id is not null
          and c.status in ('draft', 'active') and jsonb_array_length(c.steps) > 0
        group by e.user_id, e.lead_id, e.campaign_id`),
    );
    const due: DueStep[] = [];
    const campaignSteps = new Map<string, z.infer<typeof steps>>();
    for (const row of progress) {
      if (!campaignSteps.has(row.campaign_id)) {
        const [campaign] = await db
          .select({ steps: campaigns.steps })
          .from(campaigns)
          .where(eq(campaigns.id, row.campaign_id));
        const parsed = steps.safeParse(campaign?.steps ?? []);
        campaignSteps.set(row.campaign_id, parsed.success ? parsed.data : []);
      }
      const next = campaignSteps.get(row.campaign_id)?.[row.last_step];
      const startedAt = timestampMs(row.started_at);
      if (next && startedAt + next.day_offset * 86_400_000 <= now) {
        due.push({
          userId: row.user_id,
          campaignId: row.campaign_id,
          leadId: row.lead_id,
          step: row.last_step + 1,
          subject: row.subject,
        });
      }
    }

    let written = 0;
    let queued = 0;
    const groups = new Map<string, DueStep[]>();
    for (const item of due) {
      const key = `${item.campaignId}:${item.step}`;
      groups.set(key, [...(groups.get(key) ?? []), item]);
    }
    for (const group of groups.values()) {
      const first = group[0] as DueStep;
      // Already written (in any state) for this step: never twice.
      const existing = await db
        .select({ lead_id: emailEvents.lead_id })
        .from(emailEvents)
        .where(
          and(
            eq(emailEvents.campaign_id, first.campaignId),
            eq(emailEvents.sequence_step, first.step),
            isNotNull(emailEvents.lead_id),
            inArray(
              emailEvents.lead_id,
              group.map((item) => item.leadId),
            ),
          ),
        );
      const pending = group.filter((item) => !existing.some((row) => row.lead_id === item.leadId));
      if (pending.length === 0) {
        continue;
      }
      const candidates = await db
        .select()
        .from(leads)
        .where(
          and(
            inArray(
              leads.id,
              pending.map((item) => item.leadId),
            ),
            inArray(leads.status, [...stillOpen]),
          ),
        );
      const open = candidates.filter((lead) => {
        const paused = (lead.metadata as { paused_until?: string }).paused_until;
        return lead.email && !(paused && Date.parse(paused) > now);
      });
      if (open.length === 0) {
        continue;
      }
      const [campaign] = await db.select().from(campaigns).where(eq(campaigns.id, first.campaignId));
      const stepDef = campaignSteps.get(first.campaignId)?.[first.step - 1];
      if (!campaign || !stepDef) {
        continue;
      }
      const { drafted } = await writeDrafts({
        userId: first.userId,
        leads: open,
        campaign,
        prompt: `Write follow-up ${first.step} of the campaign: ${stepDef.instructions}`,
        followUp: {
          step: first.step,
          instructions: stepDef.instructions,
          subjects: new Map(pending.map((item) => [item.leadId, item.subject])),
        },
      });
      written += drafted.length;
      const sendable = drafted.filter((row) => !(row.metadata as { needs_review: boolean }).needs_review);
      queued += (
        await queueEmails(
          first.userId,
          sendable.map((row) => row.id),
        )
      ).length;
    }
    log.info({ due: due.length, written, queued }, "follow-ups");
    return { due: due.length, written, queued };
  } finally {
    await lock.release();
  }
}
