import { createHash } from "node:crypto";
import { and, eq, inArray, isNotNull, sql } from "drizzle-orm";
import { z } from "zod";
import { rowsOf } from "../db/client";
import { campaigns, emailEvents } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { toApiError } from "../http/errors";
import { tryLock } from "../lock";
import type { Logger } from "../log";
import { dispatchTask } from "../tasks/dispatch";
import { claimTask, requestHash } from "../tasks/store";

/** A campaign's follow-up steps: days after the first email, and what the follow-up should do. */
export const campaignStep = z.object({
  day_offset: z.number().min(0).max(365),
  instructions: z.string().min(1).max(2000),
});
export const campaignSteps = z.array(campaignStep).max(10);

export interface SequenceProgress {
  lead_id: string;
  last_step: number;
  started_at: string;
  subject: string;
}

/**
 * Per lead of a campaign: the highest step sent so far, when the sequence started (its first send)
 * and the subject its thread started with. Rows whose send time is unknown are left out.
 */
export async function sequenceProgress(campaignId: string, leadIds?: string[]): Promise<SequenceProgress[]> {
  const db = await serviceDb();
  return rowsOf<SequenceProgress>(
    await db.execute(sql`
      select e.lead_id, max(e.sequence_step)::int as last_step, min(e.sent_at)::text as started_at,
        (array_agg(e.subject order by e.sequence_step))[1] as subject
      from ${emailEvents} e
      where e.campaign_id = ${campaignId} and e.event_type in ('sent', 'outboxed') and e.lead_id is not null
        and e.sent_at is not null
        ${leadIds ? sql`and e.lead_id = any(${`{${leadIds.join(",")}}`}::uuid[])` : sql``}
      group by e.lead_id`),
  );
}

/** The leads of a campaign that already have an email (in any state) for this step: never twice. */
export async function leadsWithStep(
  campaignId: string,
  step: number,
  leadIds: string[],
): Promise<Set<string>> {
  const db = await serviceDb();
  const rows = await db
    .select({ lead_id: emailEvents.lead_id })
    .from(emailEvents)
    .where(
      and(
        eq(emailEvents.campaign_id, campaignId),
        eq(emailEvents.sequence_step, step),
        isNotNull(emailEvents.lead_id),
        inArray(emailEvents.lead_id, leadIds),
      ),
    );
  return new Set(rows.flatMap((row) => (row.lead_id ? [row.lead_id] : [])));
}

/** The steps of a campaign, or none when they do not parse. */
export function stepsOf(campaign: { steps: unknown }): z.infer<typeof campaignSteps> {
  const parsed = campaignSteps.safeParse(campaign.steps ?? []);
  return parsed.success ? parsed.data : [];
}

interface DueGroup {
  workspaceId: string;
  userId: string;
  campaignId: string;
  step: number;
  leadIds: string[];
}

/**
 * Hourly: finds, per running campaign, the leads whose next step is due (its day offset after the
 * first email has passed) and starts one outbound-emailer task per campaign, step and member, which
 * writes the follow-ups from the leads' data and the step's instructions and queues them in their
 * threads. The task goes through the same admission as any other run, so follow-ups are rate-limited,
 * budgeted and recorded with their cost. A step is never written twice (the same leads make the same
 * task; the emailer skips leads that already have the step). One campaign failing is recorded and
 * the others still run.
 */
export async function runFollowUps(log: Logger, now = Date.now()) {
  const lock = await tryLock("cron:follow-ups", 15 * 60_000);
  if (!lock) {
    return { skipped: "already running" };
  }
  try {
    const db = await serviceDb();
    const running = await db
      .select()
      .from(campaigns)
      .where(
        and(inArray(campaigns.status, ["draft", "active"]), sql`jsonb_array_length(${campaigns.steps}) > 0`),
      );
    const groups: DueGroup[] = [];
    const failures: { campaign_id: string; error: string }[] = [];
    for (const campaign of running) {
      try {
        const steps = stepsOf(campaign);
        const due = new Map<string, DueGroup>();
        for (const row of await sequenceProgress(campaign.id)) {
          const next = steps[row.last_step];
          if (!next || timestampMs(row.started_at) + next.day_offset * 86_400_000 > now) {
            continue;
          }
          const [first] = await db
            .select({ user_id: emailEvents.user_id })
            .from(emailEvents)
            .where(and(eq(emailEvents.campaign_id, campaign.id), eq(emailEvents.lead_id, row.lead_id)))
            .orderBy(emailEvents.created_at)
            .limit(1);
          const userId = first?.user_id ?? campaign.user_id;
          const key = `${row.last_step + 1}:${userId}`;
          const group = due.get(key) ?? {
            workspaceId: campaign.workspace_id,
            userId,
            campaignId: campaign.id,
            step: row.last_step + 1,
            leadIds: [],
          };
          group.leadIds.push(row.lead_id);
          due.set(key, group);
        }
        for (const group of due.values()) {
          const written = await leadsWithStep(group.campaignId, group.step, group.leadIds);
          group.leadIds = group.leadIds.filter((id) => !written.has(id)).sort();
          if (group.leadIds.length > 0) {
            groups.push(group);
          }
        }
      } catch (error) {
        failures.push({ campaign_id: campaign.id, error: toApiError(error).message });
        log.error({ err: error, campaign: campaign.id }, "follow-ups of a campaign failed");
      }
    }
    const tasks: string[] = [];
    for (const group of groups) {
      try {
        for (let start = 0; start < group.leadIds.length; start += 25) {
          const leadIds = group.leadIds.slice(start, start + 25);
          const input = {
            user_id: group.userId,
            workspace_id: group.workspaceId,
            prompt: `Write follow-up ${group.step} of the campaign.`,
            campaign_id: group.campaignId,
            lead_ids: leadIds,
            follow_up_step: group.step,
            mode: "send",
          };
          // Per hour: a run refused at admission (rate limit, budget) is tried again next hour; the
          // database's one-email-per-step index keeps two runs from writing a step twice.
          const hour = Math.floor(now / 3_600_000);
          const leadsHash = createHash("sha256").update(leadIds.join(",")).digest("hex").slice(0, 24);
          const claim = await claimTask({
            workspaceId: group.workspaceId,
            userId: group.userId,
            agent: "outbound-emailer",
            input,
            key: `follow-up-${group.campaignId}-${group.step}-${leadsHash}-${hour}`,
            hash: requestHash(input),
            status: "queued",
            runningIsReplay: true,
          });
          if (claim.kind === "new") {
            await dispatchTask(claim.task.id);
            tasks.push(claim.task.id);
          }
        }
      } catch (error) {
        failures.push({ campaign_id: group.campaignId, error: toApiError(error).message });
        log.error({ err: error, campaign: group.campaignId }, "queuing a follow-up task failed");
      }
    }
    const due = groups.reduce((sum, group) => sum + group.leadIds.length, 0);
    log.info({ due, tasks: tasks.length, failures: failures.length }, "follow-ups");
    return { due, tasks, failures };
  } finally {
    await lock.release();
  }
}
