/**
 * What a workspace's people see of and do with its sending: the mailboxes (caps, pause and why,
 * bounce rate, sends in the last day), and resuming a mailbox or campaign that bounce protection
 * paused. Members read; owners and admins resume.
 */
import { and, eq, gte, sql } from "drizzle-orm";
import { z } from "zod";
import type { UserHandler } from "../auth/session";
import { campaigns, emailEvents, mailboxes } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { ApiError } from "../http/errors";
import { json, pathParams } from "../http/handler";
import { resolveWorkspace } from "../workspaces/access";
import { campaignBounceRate, mailboxBounceRate } from "./bounce-guard";

const bounceRate = z.object({
  sends: z.int().meta({ description: "Sends counted (last 30 days, since the last resume)" }),
  bounces: z.int(),
  rate: z.number().meta({ description: "bounces / sends" }),
});

export const mailboxView = z.object({
  id: z.uuid(),
  address: z.string(),
  kind: z.enum(["gmail", "outbox"]),
  status: z
    .enum(["active", "paused", "disconnected"])
    .meta({ description: "paused: Gmail's limit or bounce protection (see paused_until and pause_reason)" }),
  display_name: z.string().nullable(),
  daily_cap: z.int(),
  hourly_cap: z.int(),
  min_gap_seconds: z.int(),
  paused_until: z.string().nullable().meta({ description: "9999-12-31: until an owner or admin resumes it" }),
  pause_reason: z.string().nullable(),
  sent_last_24h: z.int(),
  bounce_rate: bounceRate,
  sender_check: z
    .object({
      domain: z.string(),
      checked_at: z.string(),
      verdict: z.enum(["ok", "warning", "refused", "unknown"]),
      problems: z.array(z.string()),
      mx: z.object({ ok: z.boolean(), hosts: z.array(z.string()) }),
      spf: z.object({ ok: z.boolean(), result: z.string(), record: z.string().nullable() }),
      dkim: z.object({ ok: z.boolean(), selector: z.string(), error: z.string().nullable() }),
      dmarc: z.object({ ok: z.boolean(), policy: z.string().nullable(), record: z.string().nullable() }),
    })
    .nullable()
    .meta({
      description:
        "The sending domain's DNS (MX, SPF for Google, DKIM key, DMARC), checked before the first send and daily; refused: neither SPF nor DKIM, nothing is sent",
    }),
});
export type MailboxView = z.infer<typeof mailboxView>;

export const campaignResumed = z.object({
  id: z.uuid(),
  status: z.literal("active"),
  bounce_rate: bounceRate,
});

export const workspacePath = z.object({ workspace_id: z.uuid() });
export const mailboxPath = z.object({ workspace_id: z.uuid(), mailbox_id: z.uuid() });
export const campaignPath = z.object({ workspace_id: z.uuid(), campaign_id: z.uuid() });

type MailboxRow = typeof mailboxes.$inferSelect;

async function viewOf(row: MailboxRow): Promise<MailboxView> {
  const db = await serviceDb();
  const [sent] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(emailEvents)
    .where(
      and(
        eq(emailEvents.mailbox_id, row.id),
        gte(emailEvents.sent_at, new Date(Date.now() - 86_400_000).toISOString()),
      ),
    );
  const paused = row.paused_until !== null && timestampMs(row.paused_until) > Date.now();
  return {
    id: row.id,
    address: row.address,
    kind: row.kind,
    status: row.status === "disconnected" ? "disconnected" : paused ? "paused" : "active",
    display_name: row.display_name,
    daily_cap: row.daily_cap,
    hourly_cap: row.hourly_cap,
    min_gap_seconds: row.min_gap_seconds,
    paused_until: paused ? new Date(timestampMs(row.paused_until ?? "")).toISOString() : null,
    pause_reason: paused ? row.pause_reason : null,
    sent_last_24h: sent?.n ?? 0,
    bounce_rate: await mailboxBounceRate(row.id, row.bounce_guard_since),
    sender_check: (row.sender_check as MailboxView["sender_check"]) ?? null,
  };
}

export async function listMailboxes(userId: string, workspaceId: string): Promise<MailboxView[]> {
  await resolveWorkspace(userId, workspaceId);
  const db = await serviceDb();
  const rows = await db
    .select()
    .from(mailboxes)
    .where(eq(mailboxes.workspace_id, workspaceId))
    .orderBy(mailboxes.created_at);
  return Promise.all(rows.map(viewOf));
}

/** Ends a pause (bounce protection's or Gmail's) and restarts the bounce count from now. */
export async function resumeMailbox(
  userId: string,
  workspaceId: string,
  mailboxId: string,
): Promise<MailboxView> {
  await resolveWorkspace(userId, workspaceId, "admin");
  const db = await serviceDb();
  const [row] = await db
    .update(mailboxes)
    .set({ paused_until: null, pause_reason: null, bounce_guard_since: new Date().toISOString() })
    .where(and(eq(mailboxes.id, mailboxId), eq(mailboxes.workspace_id, workspaceId)))
    .returning();
  if (!row) {
    throw new ApiError("not_found", "No such mailbox in this workspace");
  }
  return viewOf(row);
}

/** Sets a paused campaign going again; its bounce count restarts from now. */
export async function resumeCampaign(userId: string, workspaceId: string, campaignId: string) {
  await resolveWorkspace(userId, workspaceId, "admin");
  const db = await serviceDb();
  const [campaign] = await db
    .select()
    .from(campaigns)
    .where(and(eq(campaigns.id, campaignId), eq(campaigns.workspace_id, workspaceId)));
  if (!campaign) {
    throw new ApiError("not_found", "No such campaign in this workspace");
  }
  if (campaign.status !== "paused") {
    throw new ApiError("conflict", `The campaign is ${campaign.status}, not paused`);
  }
  const since = new Date().toISOString();
  await db
    .update(campaigns)
    .set({ status: "active", pause_reason: null, bounce_guard_since: since })
    .where(eq(campaigns.id, campaignId));
  return {
    id: campaignId,
    status: "active" as const,
    bounce_rate: await campaignBounceRate(campaignId, since),
  };
}

const ok = (data: unknown) => json({ success: true, data });

export const listHandler: UserHandler = async (ctx) =>
  ok(await listMailboxes(ctx.user.id, pathParams(ctx, workspacePath).workspace_id));
export const resumeMailboxHandler: UserHandler = async (ctx) => {
  const path = pathParams(ctx, mailboxPath);
  return ok(await resumeMailbox(ctx.user.id, path.workspace_id, path.mailbox_id));
};
export const resumeCampaignHandler: UserHandler = async (ctx) => {
  const path = pathParams(ctx, campaignPath);
  return ok(await resumeCampaign(ctx.user.id, path.workspace_id, path.campaign_id));
};
