/**
 * Mailbox state, per workspace: the one writer of `mailboxes`. A workspace sends from the Gmail
 * mailboxes of its Google connections (any number; campaigns rotate between them); one without (or
 * whose every connection was disconnected) writes to the outbox through a mailbox of kind `outbox`,
 * so pacing and threading behave the same. Each mailbox paces only its own sends, under its own caps
 * and ramp: one workspace's batch never delays another's mail.
 */
import { and, asc, eq, inArray, ne, sql } from "drizzle-orm";
import { alertAdmins } from "../alerts";
import { getConfig } from "../config";
import { emailEvents, mailboxes } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { type Connection, connectionsOf } from "../google/connections";
import { workspaceRow } from "../workspaces/access";
import type { PacingRules } from "./pacing";
import type { SenderCheck } from "./sender-check";

export type MailboxRow = typeof mailboxes.$inferSelect;

/** The outbox mailbox of a workspace: never delivered (`.invalid` is reserved, RFC 2606). */
export const outboxAddress = (workspaceId: string) => `outbox+${workspaceId}@outbox.invalid`;

async function upsertMailbox(values: typeof mailboxes.$inferInsert): Promise<MailboxRow> {
  const config = getConfig();
  const db = await serviceDb();
  const address = values.address.toLowerCase();
  // A mailbox keeps its row (and its send history, which pacing counts) across reconnects, even when
  // another workspace connects the same account later.
  await db.execute(sql`
    insert into ${mailboxes} (workspace_id, connection_id, kind, status, address, display_name, daily_cap,
      hourly_cap, min_gap_seconds, gap_jitter_seconds, ramp_start, ramp_step, ramp_started_at)
    values (${values.workspace_id}, ${values.connection_id ?? null}, ${values.kind ?? "gmail"}, 'active',
      ${address}, ${values.display_name ?? null}, ${config.EMAIL_DAILY_CAP}, ${config.EMAIL_HOURLY_CAP},
      ${config.EMAIL_MIN_GAP_SECONDS}, ${config.EMAIL_GAP_JITTER_SECONDS}, ${Math.min(config.EMAIL_RAMP_START, config.EMAIL_DAILY_CAP)},
      ${config.EMAIL_RAMP_STEP},
      -- The outbox reaches no one, so it has no reputation to build: it starts at its cap.
      ${values.kind === "outbox" ? sql`now() - interval '3650 days'` : sql`now()`})
    on conflict (lower(address)) do update set
      workspace_id = excluded.workspace_id,
      connection_id = excluded.connection_id,
      kind = excluded.kind,
      status = 'active',
      display_name = coalesce(excluded.display_name, ${mailboxes.display_name})
    where ${mailboxes.status} <> 'active' or ${mailboxes.connection_id} is distinct from excluded.connection_id
      or ${mailboxes.workspace_id} <> excluded.workspace_id`);
  const [row] = await db.select().from(mailboxes).where(sql`lower(${mailboxes.address}) = ${address}`);
  if (!row) {
    throw new Error(`mailbox ${address} vanished`);
  }
  return row;
}

/**
 * The Gmail mailbox of a connection (made on first use, reactivated on reconnect). Its emails go out
 * under the business's name: GMAIL_SENDER_NAME for the environment's account, else the workspace's.
 */
export async function mailboxOfConnection(connection: Connection): Promise<MailboxRow> {
  const config = getConfig();
  return upsertMailbox({
    workspace_id: connection.workspace_id,
    connection_id: connection.id,
    kind: "gmail",
    address: connection.email,
    display_name:
      connection.kind === "environment" && config.GMAIL_SENDER_NAME
        ? config.GMAIL_SENDER_NAME
        : (await workspaceRow(connection.workspace_id)).name,
  });
}

/**
 * The mailboxes a workspace's new emails may go out from: one per connected account, oldest first,
 * else the workspace's outbox. A connection waiting to be reconnected still owns its mailbox (its
 * mail waits for it).
 */
export async function sendingMailboxes(workspaceId: string): Promise<MailboxRow[]> {
  const connections = await connectionsOf(workspaceId);
  if (connections.length > 0) {
    return Promise.all(connections.map((connection) => mailboxOfConnection(connection)));
  }
  return [
    await upsertMailbox({ workspace_id: workspaceId, kind: "outbox", address: outboxAddress(workspaceId) }),
  ];
}

/** The workspace's first mailbox: the sender of its notices (invitations), and the drafts' signature. */
export async function sendingMailbox(workspaceId: string): Promise<MailboxRow> {
  const [first] = await sendingMailboxes(workspaceId);
  if (!first) {
    throw new Error(`workspace ${workspaceId} has no mailbox`);
  }
  return first;
}

export async function mailboxById(id: string): Promise<MailboxRow | undefined> {
  const db = await serviceDb();
  const [row] = await db.select().from(mailboxes).where(eq(mailboxes.id, id));
  return row;
}

type RampFields = Pick<MailboxRow, "daily_cap" | "ramp_start" | "ramp_step" | "ramp_started_at">;

/**
 * A mailbox's daily cap at an instant: `ramp_start` on its first day, `ramp_step` more each day after,
 * never above `daily_cap`. Days count from `ramp_started_at` in whole 24-hour periods.
 */
export function dailyCapAt(mailbox: RampFields, at: number): number {
  const days = Math.max(0, Math.floor((at - timestampMs(mailbox.ramp_started_at)) / 86_400_000));
  return Math.max(1, Math.min(mailbox.daily_cap, mailbox.ramp_start + mailbox.ramp_step * days));
}

/** When the ramp reaches the cap; null when it never does (no step and a start below the cap). */
export function rampEndsAt(mailbox: RampFields): number | null {
  const short = Math.max(0, mailbox.daily_cap - mailbox.ramp_start);
  if (short > 0 && mailbox.ramp_step === 0) {
    return null;
  }
  const days = short === 0 ? 0 : Math.ceil(short / mailbox.ramp_step);
  return timestampMs(mailbox.ramp_started_at) + days * 86_400_000;
}

export function pacingRules(mailbox: MailboxRow): PacingRules {
  return {
    dailyCap: mailbox.daily_cap,
    hourlyCap: mailbox.hourly_cap,
    minGapMs: mailbox.min_gap_seconds * 1000,
    jitterMs: mailbox.gap_jitter_seconds * 1000,
    dailyCapAt: (at) => dailyCapAt(mailbox, at),
  };
}

/** Pauses a mailbox until a time (a quota Gmail reports), with the reason. */
export async function pauseMailbox(mailboxId: string, until: string, reason: string): Promise<void> {
  const db = await serviceDb();
  await db
    .update(mailboxes)
    .set({ paused_until: until, pause_reason: reason.slice(0, 500) })
    .where(eq(mailboxes.id, mailboxId));
}

/** Moves the mailbox's history cursor forward only (a late notification never moves it back). */
export async function advanceHistory(mailboxId: string, historyId: string): Promise<string | null> {
  const db = await serviceDb();
  await db
    .update(mailboxes)
    .set({ history_id: historyId })
    .where(
      and(
        eq(mailboxes.id, mailboxId),
        sql`(${mailboxes.history_id} is null or ${mailboxes.history_id}::numeric < ${historyId}::numeric)`,
      ),
    );
  return (await mailboxById(mailboxId))?.history_id ?? null;
}

export async function recordWatch(mailboxId: string, expiresAt: string, historyId: string | null) {
  const db = await serviceDb();
  await db
    .update(mailboxes)
    .set({
      watch_expires_at: expiresAt,
      history_id: sql`coalesce(${mailboxes.history_id}, ${historyId})`,
    })
    .where(eq(mailboxes.id, mailboxId));
}

/**
 * A disconnected account's mailboxes stop: they are marked disconnected and the mail still waiting
 * in them is cancelled with the reason (it can be approved again once an account is connected).
 */
export async function detachMailboxes(connectionId: string): Promise<{ cancelled: number }> {
  const db = await serviceDb();
  const rows = await db
    .update(mailboxes)
    .set({ status: "disconnected", watch_expires_at: null })
    .where(and(eq(mailboxes.connection_id, connectionId), ne(mailboxes.status, "disconnected")))
    .returning({ id: mailboxes.id });
  if (rows.length === 0) {
    return { cancelled: 0 };
  }
  const cancelled = await db
    .update(emailEvents)
    .set({ event_type: "cancelled", error: "the sending mailbox was disconnected" })
    .where(
      and(
        inArray(
          emailEvents.mailbox_id,
          rows.map((row) => row.id),
        ),
        eq(emailEvents.event_type, "queued"),
      ),
    )
    .returning({ id: emailEvents.id });
  return { cancelled: cancelled.length };
}

/** The live Gmail mailboxes, oldest first (the daily watch renewal walks them). */
export async function liveGmailMailboxes(): Promise<MailboxRow[]> {
  const db = await serviceDb();
  return db
    .select()
    .from(mailboxes)
    .where(and(eq(mailboxes.kind, "gmail"), eq(mailboxes.status, "active")))
    .orderBy(asc(mailboxes.created_at));
}

const checkMaxAgeMs = 86_400_000;

/**
 * The mailbox's sending-domain check, run again when missing or a day old (lib/email/sender-check.ts,
 * loaded only then) and stored on the mailbox. The outbox never sends, so it has none. A check that
 * turns to refused alerts the workspace's admins once, with what to fix.
 */
export async function senderCheckOf(mailbox: MailboxRow): Promise<SenderCheck | undefined> {
  if (mailbox.kind !== "gmail") {
    return undefined;
  }
  const stored = mailbox.sender_check as SenderCheck | null;
  if (
    stored &&
    mailbox.sender_checked_at &&
    Date.now() - timestampMs(mailbox.sender_checked_at) < checkMaxAgeMs
  ) {
    return stored;
  }
  const { checkSendingDomain } = await import("./sender-check");
  const check = await checkSendingDomain(mailbox.address);
  const db = await serviceDb();
  await db
    .update(mailboxes)
    .set({ sender_check: check, sender_checked_at: check.checked_at })
    .where(eq(mailboxes.id, mailbox.id));
  if (check.verdict === "refused" && stored?.verdict !== "refused") {
    await alertAdmins({
      workspaceId: mailbox.workspace_id,
      type: "mailbox.sender_check_failed",
      severity: "critical",
      title: `${check.domain} cannot send: no SPF for Google and no DKIM key`,
      message: `${check.problems.join(". ")}. Gmail and Yahoo refuse mail that has neither; ${mailbox.address} sends nothing until the domain publishes one.`,
      metadata: { mailbox_id: mailbox.id, check },
    });
  }
  return check;
}

/** Whether the sending domain's check stops this mailbox now (EMAIL_SENDER_CHECK=enforce). */
export function senderRefusal(check: SenderCheck | undefined): string | undefined {
  if (!check || getConfig().EMAIL_SENDER_CHECK !== "enforce") {
    return undefined;
  }
  if (check.verdict === "refused") {
    return `${check.domain} fails the sender checks: ${check.problems.join("; ")}`;
  }
  if (check.verdict === "unknown") {
    return `${check.domain} could not be checked yet: ${check.problems.join("; ")}`;
  }
  return undefined;
}
