/**
 * Bounce protection: a mailbox or a campaign whose bounce rate over the last 30 days reaches
 * EMAIL_BOUNCE_RATE_LIMIT (2 %, Woodpecker's threshold), once it has EMAIL_BOUNCE_MIN_SENDS sends,
 * pauses with the reason and an alert to the workspace's admins, until an owner or admin resumes it.
 * A resume restarts the count (`bounce_guard_since`): the bounces that caused the pause do not pause
 * it again. Every email that left counts as a send; a bounce is one whose answer was a bounce that
 * ended it (hard, blocked, unknown, or soft past the limit), not a soft bounce that is sent again.
 */
import { eq, type SQL, sql } from "drizzle-orm";
import { alertAdmins } from "../alerts";
import { getConfig } from "../config";
import { rowsOf } from "../db/client";
import { campaigns, emailEvents, mailboxes } from "../db/schema";
import { serviceDb } from "../db/service";

const windowMs = 30 * 86_400_000;
/** A guard pause lasts until someone resumes it (the send worker re-checks at most weekly). */
export const untilResumed = "9999-12-31T00:00:00.000Z";

export interface BounceRate {
  sends: number;
  bounces: number;
  rate: number;
}

async function rateWhere(scope: SQL, since: string | null): Promise<BounceRate> {
  const db = await serviceDb();
  const from = new Date(Math.max(Date.now() - windowMs, since ? Date.parse(since) : 0)).toISOString();
  const [row] = rowsOf<{ sends: number; bounces: number }>(
    await db.execute(sql`
      select count(*)::int as sends, count(*) filter (where ${emailEvents.event_type} = 'bounced')::int as bounces
      from ${emailEvents}
      where ${scope} and ${emailEvents.sent_at} is not null and ${emailEvents.sent_at} >= ${from}::timestamptz
        and ${emailEvents.event_type} in ('sent', 'bounced')`),
  );
  const sends = row?.sends ?? 0;
  const bounces = row?.bounces ?? 0;
  return { sends, bounces, rate: sends ? bounces / sends : 0 };
}

export const mailboxBounceRate = (mailboxId: string, since: string | null) =>
  rateWhere(sql`${emailEvents.mailbox_id} = ${mailboxId}`, since);
export const campaignBounceRate = (campaignId: string, since: string | null) =>
  rateWhere(sql`${emailEvents.campaign_id} = ${campaignId}`, since);

/** Whether a rate pauses: enough sends, and at or over the limit. */
export function overLimit(rate: BounceRate): boolean {
  const config = getConfig();
  return rate.sends >= config.EMAIL_BOUNCE_MIN_SENDS && rate.rate >= config.EMAIL_BOUNCE_RATE_LIMIT;
}

const describe = (rate: BounceRate) =>
  `bounce rate ${(rate.rate * 100).toFixed(1)} % (${rate.bounces} of ${rate.sends} sends in 30 days) reached ${(
    getConfig().EMAIL_BOUNCE_RATE_LIMIT * 100
  ).toFixed(1)} %`;

/** After a bounce: pauses the email's mailbox and campaign if their rates now reach the limit. */
export async function guardBounceRate(event: {
  workspace_id: string;
  mailbox_id: string | null;
  campaign_id: string | null;
}): Promise<{ mailbox: boolean; campaign: boolean }> {
  const db = await serviceDb();
  const paused = { mailbox: false, campaign: false };
  if (event.mailbox_id) {
    const [mailbox] = await db.select().from(mailboxes).where(eq(mailboxes.id, event.mailbox_id));
    const rate = mailbox ? await mailboxBounceRate(mailbox.id, mailbox.bounce_guard_since) : undefined;
    if (mailbox && rate && overLimit(rate) && mailbox.paused_until !== untilResumed) {
      const reason = `${describe(rate)}: clean the list, then resume the mailbox`;
      await db
        .update(mailboxes)
        .set({ paused_until: untilResumed, pause_reason: reason })
        .where(eq(mailboxes.id, mailbox.id));
      await alertAdmins({
        workspaceId: event.workspace_id,
        type: "mailbox.bounce_paused",
        severity: "critical",
        title: `Sending paused for ${mailbox.address}: too many bounces`,
        message: `The ${reason}. Its queued emails wait; nothing is sent from it until it is resumed.`,
        metadata: { mailbox_id: mailbox.id, ...rate },
      });
      paused.mailbox = true;
    }
  }
  if (event.campaign_id) {
    const [campaign] = await db.select().from(campaigns).where(eq(campaigns.id, event.campaign_id));
    const rate = campaign ? await campaignBounceRate(campaign.id, campaign.bounce_guard_since) : undefined;
    if (campaign && rate && overLimit(rate) && campaign.status !== "paused") {
      const reason = `${describe(rate)}: clean the list, then resume the campaign`;
      await db
        .update(campaigns)
        .set({ status: "paused", pause_reason: reason })
        .where(eq(campaigns.id, campaign.id));
      await alertAdmins({
        workspaceId: event.workspace_id,
        type: "campaign.bounce_paused",
        severity: "critical",
        title: `Campaign "${campaign.name}" paused: too many bounces`,
        message: `The ${reason}. Its queued emails are stopped; follow-ups wait until it is resumed.`,
        metadata: { campaign_id: campaign.id, ...rate },
      });
      paused.campaign = true;
    }
  }
  return paused;
}
