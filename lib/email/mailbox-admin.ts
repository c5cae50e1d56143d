/**
 * What a workspace's people see of and do with its sending: the mailboxes (caps, ramp, pause and
 * why, bounce rate, sends in the last day, sender checks), their caps and ramps, pausing and
 * resuming them, resuming a campaign that bounce protection paused, and the set of mailboxes a
 * campaign rotates between. Members read; owners and admins change.
 */
import { and, eq, gte, inArray, sql } from "drizzle-orm";
import { z } from "zod";
import type { UserHandler } from "../auth/session";
import { campaigns, emailEvents, mailboxes } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { ApiError } from "../http/errors";
import { json, pathParams } from "../http/handler";
import { resolveWorkspace } from "../workspaces/access";
import { campaignBounceRate, mailboxBounceRate, untilResumed } from "./bounce-guard";
import { dailyCapAt, pauseMailbox, rampEndsAt } from "./mailboxes";

const bounceRate = z.object({
  sends: z.int().meta({ description: "Sends counted (last 30 days, since the last resume)" }),
  bounces: z.int(),
  rate: z.number().meta({ description: "bounces / sends" }),
});

export const mailboxView = z.object({
  id: z.uuid(),
  address: z.string(),
  kind: z.enum(["gmail", "outbox"]),
  status: z.enum(["active", "ramping", "paused", "disconnected"]).meta({
    description:
      "ramping: below its daily cap while its ramp rises (see today_cap); paused: Gmail's limit, bounce protection or a person (see paused_until and pause_reason)",
  }),
  display_name: z.string().nullable(),
  daily_cap: z.int(),
  hourly_cap: z.int(),
  min_gap_seconds: z.int(),
  gap_jitter_seconds: z
    .int()
    .meta({ description: "Up to this much more than min_gap_seconds, drawn at random per send" }),
  ramp_start: z.int().meta({ description: "What it may send on its ramp's first day" }),
  ramp_step: z.int().meta({ description: "How much more it may send each day after, up to daily_cap" }),
  ramp_started_at: z.string(),
  ramp_ends_at: z.string().nullable().meta({ description: "When the ramp reaches daily_cap (null: never)" }),
  today_cap: z
    .int()
    .meta({ description: "Its cap for the 24 hours ending now (the ramp's, at most daily_cap)" }),
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

/** Caps and ramp an owner or admin sets; `restart_ramp` starts the ramp again from today. */
export const mailboxSettings = z
  .object({
    daily_cap: z.int().min(1).max(2000),
    hourly_cap: z.int().min(1).max(500),
    min_gap_seconds: z.int().min(0).max(86_400),
    gap_jitter_seconds: z.int().min(0).max(3600),
    ramp_start: z.int().min(1).max(2000),
    ramp_step: z.int().min(0).max(2000),
    restart_ramp: z.literal(true),
    display_name: z.string().trim().min(1).max(200),
  })
  .partial()
  .strict()
  .refine((body) => Object.keys(body).length > 0, "name at least one setting to change");

export const pauseBody = z
  .object({
    reason: z.string().trim().min(1).max(500).default("paused by a person"),
    until: z.iso
      .datetime({ offset: true })
      .refine((until) => Date.parse(until) > Date.now(), "must be in the future")
      .optional()
      .meta({
        description: "When sending resumes by itself; without it, until an owner or admin resumes it",
      }),
  })
  .strict();

export const campaignMailboxesBody = z
  .object({
    mailbox_ids: z.array(z.uuid()).max(50).meta({
      description: "The mailboxes its first emails rotate between; empty: every mailbox of the workspace",
    }),
  })
  .strict();
export const campaignMailboxes = z.object({ id: z.uuid(), mailbox_ids: z.array(z.uuid()) });

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
  const todayCap = dailyCapAt(row, Date.now());
  const rampEnd = rampEndsAt(row);
  return {
    id: row.id,
    address: row.address,
    kind: row.kind,
    status:
      row.status === "disconnected"
        ? "disconnected"
        : paused
          ? "paused"
          : todayCap < row.daily_cap
            ? "ramping"
            : "active",
    display_name: row.display_name,
    daily_cap: row.daily_cap,
    hourly_cap: row.hourly_cap,
    min_gap_seconds: row.min_gap_seconds,
    gap_jitter_seconds: row.gap_jitter_seconds,
    ramp_start: row.ramp_start,
    ramp_step: row.ramp_step,
    ramp_started_at: new Date(timestampMs(row.ramp_started_at)).toISOString(),
    ramp_ends_at: rampEnd === null ? null : new Date(rampEnd).toISOString(),
    today_cap: todayCap,
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

async function ownMailbox(workspaceId: string, mailboxId: string): Promise<MailboxRow> {
  const db = await serviceDb();
  const [row] = await db
    .select()
    .from(mailboxes)
    .where(and(eq(mailboxes.id, mailboxId), eq(mailboxes.workspace_id, workspaceId)));
  if (!row) {
    throw new ApiError("not_found", "No such mailbox in this workspace");
  }
  return row;
}

/**
 * Changes a mailbox's caps or ramp. Lowering a cap takes effect at the next send (each send checks
 * again); emails already planned beyond it are deferred, never sent over it.
 */
export async function updateMailbox(
  userId: string,
  workspaceId: string,
  mailboxId: string,
  body: z.infer<typeof mailboxSettings>,
): Promise<MailboxView> {
  await resolveWorkspace(userId, workspaceId, "admin");
  await ownMailbox(workspaceId, mailboxId);
  const { restart_ramp: restart, ...settings } = body;
  const db = await serviceDb();
  const [row] = await db
    .update(mailboxes)
    .set({ ...settings, ...(restart ? { ramp_started_at: new Date().toISOString() } : {}) })
    .where(and(eq(mailboxes.id, mailboxId), eq(mailboxes.workspace_id, workspaceId)))
    .returning();
  return viewOf(row as MailboxRow);
}

/** Pauses a mailbox by hand, with the reason, until a time or until resumed; its mail waits. */
export async function pauseMailboxByHand(
  userId: string,
  workspaceId: string,
  mailboxId: string,
  body: z.infer<typeof pauseBody>,
): Promise<MailboxView> {
  await resolveWorkspace(userId, workspaceId, "admin");
  await ownMailbox(workspaceId, mailboxId);
  const until = new Date(body.until ?? untilResumed);
  await pauseMailbox(mailboxId, until.toISOString(), body.reason);
  return viewOf(await ownMailbox(workspaceId, mailboxId));
}

/** The mailboxes a campaign's first emails rotate between; each must be one of the workspace's. */
export async function setCampaignMailboxes(
  userId: string,
  workspaceId: string,
  campaignId: string,
  body: z.infer<typeof campaignMailboxesBody>,
): Promise<z.infer<typeof campaignMailboxes>> {
  await resolveWorkspace(userId, workspaceId, "admin");
  const db = await serviceDb();
  const ids = [...new Set(body.mailbox_ids)];
  const own = ids.length
    ? await db
        .select({ id: mailboxes.id })
        .from(mailboxes)
        .where(and(eq(mailboxes.workspace_id, workspaceId), inArray(mailboxes.id, ids)))
    : [];
  const unknown = ids.filter((id) => !own.some((row) => row.id === id));
  if (unknown.length > 0) {
    throw new ApiError("unprocessable_entity", "Not mailboxes of this workspace", {
      retryable: false,
      details: { mailbox_ids: unknown },
    });
  }
  const [row] = await db
    .update(campaigns)
    .set({ mailbox_ids: ids })
    .where(and(eq(campaigns.id, campaignId), eq(campaigns.workspace_id, workspaceId)))
    .returning({ id: campaigns.id, mailbox_ids: campaigns.mailbox_ids });
  if (!row) {
    throw new ApiError("not_found", "No such campaign in this workspace");
  }
  return row;
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
export const updateMailboxHandler: UserHandler = async (ctx) => {
  const path = pathParams(ctx, mailboxPath);
  return ok(
    await updateMailbox(ctx.user.id, path.workspace_id, path.mailbox_id, await ctx.json(mailboxSettings)),
  );
};
export const pauseMailboxHandler: UserHandler = async (ctx) => {
  const path = pathParams(ctx, mailboxPath);
  return ok(
    await pauseMailboxByHand(ctx.user.id, path.workspace_id, path.mailbox_id, await ctx.json(pauseBody)),
  );
};
export const campaignMailboxesHandler: UserHandler = async (ctx) => {
  const path = pathParams(ctx, campaignPath);
  return ok(
    await setCampaignMailboxes(
      ctx.user.id,
      path.workspace_id,
      path.campaign_id,
      await ctx.json(campaignMailboxesBody),
    ),
  );
};
export const resumeCampaignHandler: UserHandler = async (ctx) => {
  const path = pathParams(ctx, campaignPath);
  return ok(await resumeCampaign(ctx.user.id, path.workspace_id, path.campaign_id));
};
