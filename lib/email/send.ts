import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { and, asc, desc, eq, gt, inArray, isNotNull, or, sql } from "drizzle-orm";
import { z } from "zod";
import { alertAdmins } from "../alerts";
import { getConfig } from "../config";
import { campaigns, emailEvents, leads } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { type Connection, connectionById, withGoogle } from "../google/connections";
import { classifyGmailError, type GmailFailure } from "../google/errors";
import { ApiError } from "../http/errors";
import { json, type RequestContext } from "../http/handler";
import { acquireLock } from "../lock";
import { invalidJob, publishJob, type QStashDelivery, readJob } from "../queue";
import { draftHash } from "./drafts";
import { whyNotEmail } from "./eligibility";
import { type Sender, senderOf, withFooter } from "./footer";
import {
  type MailboxRow,
  mailboxById,
  pacingRules,
  pauseMailbox,
  senderCheckOf,
  senderRefusal,
  sendingMailbox,
} from "./mailboxes";
import { composeEmail, newMessageId, unsubscribeMailto } from "./mime";
import { earliestSlot, planSlots } from "./pacing";
import { unsubscribeUrl } from "./unsubscribe";

export const emailWorkerPath = "/api/workers/email";
const sendJob = z.object({ event_id: z.uuid(), deferrals: z.int().min(0).max(200).default(0) });
const syncJob = z.object({ sync_mailbox: z.email(), history_id: z.string().optional() });
/** The email worker's two jobs: send one email, or process a mailbox's changes after a push. */
export const emailJob = z.union([sendJob, syncJob]);
type EmailEvent = typeof emailEvents.$inferSelect;
type LeadRow = typeof leads.$inferSelect;

/** A claim older than this with no outcome is taken to have died mid-send: Sent is searched first. */
const claimStaleMs = 60_000;
/** How long mail waits for a connection Google refused to be reconnected, per deferral. */
const reconnectWaitMs = 3_600_000;
const day = 86_400_000;

/** Send times of the mailbox in the last day (sent, outboxed or being sent). */
async function recentSends(mailboxId: string, since: number): Promise<number[]> {
  const db = await serviceDb();
  const rows = await db
    .select({ at: emailEvents.sent_at })
    .from(emailEvents)
    .where(
      and(
        eq(emailEvents.mailbox_id, mailboxId),
        isNotNull(emailEvents.sent_at),
        gt(emailEvents.sent_at, new Date(since).toISOString()),
      ),
    );
  return rows.map((row) => timestampMs(`${row.at}`));
}

/** Planned slots of queued emails of the mailbox, so a new batch is placed after them. */
async function plannedSends(mailboxId: string): Promise<number[]> {
  const db = await serviceDb();
  const rows = await db
    .select({ at: emailEvents.scheduled_at })
    .from(emailEvents)
    .where(
      and(
        eq(emailEvents.mailbox_id, mailboxId),
        eq(emailEvents.event_type, "queued"),
        isNotNull(emailEvents.scheduled_at),
      ),
    );
  return rows.map((row) => timestampMs(`${row.at}`));
}

/** QStash's longest delay: a later time is reached in hops, each delivery checking again. */
const maxDelayMs = 7 * day;

function publishEmail(eventId: string, wantedDelayMs: number, deferrals: number) {
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

/** The lead an email is for, in the email's own workspace (never another workspace's row). */
export async function leadOf(
  event: Pick<EmailEvent, "lead_id" | "workspace_id">,
): Promise<LeadRow | undefined> {
  if (!event.lead_id) {
    return undefined;
  }
  const db = await serviceDb();
  const [lead] = await db
    .select()
    .from(leads)
    .where(and(eq(leads.id, event.lead_id), eq(leads.workspace_id, event.workspace_id)));
  return lead;
}

export interface QueueResult {
  queued: { id: string; to: string | null; scheduled_at: string }[];
  skipped: { id: string; reason: string }[];
}

/**
 * Queues drafts of a workspace for sending. What goes out is re-derived from trusted rows: the
 * recipient is the lead's current address in the workspace, the text must be the text that passed
 * its check (an edited draft is checked again first), and the sender is the workspace's mailbox.
 * Each email gets its Message-ID and a slot from that mailbox's pacing (follow-ups before first
 * emails), and one QStash job delayed to that slot.
 */
export async function queueEmails(
  workspaceId: string,
  eventIds: string[],
  approvedBy?: string,
): Promise<QueueResult> {
  // Before anything is queued: a workspace without its postal address sends nothing (CAN-SPAM).
  await senderOf(workspaceId);
  const db = await serviceDb();
  const mailbox = await sendingMailbox(workspaceId);
  const refusal = senderRefusal(await senderCheckOf(mailbox));
  if (refusal) {
    throw new ApiError("sender_not_authenticated", refusal, {
      details: { mailbox: mailbox.address, check: (await mailboxById(mailbox.id))?.sender_check ?? null },
    });
  }
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
  const skipped: QueueResult["skipped"] = [];
  const ready: { event: EmailEvent; to: string }[] = [];
  for (const event of events) {
    const meta = event.metadata as { checked_hash?: string; needs_review?: boolean };
    const lead = await leadOf(event);
    if (meta.checked_hash !== draftHash(event)) {
      skipped.push({ id: event.id, reason: "the text changed since its check; check it again" });
    } else if (!lead?.email) {
      skipped.push({ id: event.id, reason: "the lead has no address in this workspace" });
    } else {
      ready.push({ event, to: lead.email });
    }
  }
  const now = Date.now();
  const taken = [...(await recentSends(mailbox.id, now - day)), ...(await plannedSends(mailbox.id))];
  const slots = planSlots(taken, ready.length, now, pacingRules(mailbox));
  const queued: QueueResult["queued"] = [];
  for (const [index, { event, to }] of ready.entries()) {
    const slot = slots[index] ?? now;
    const [row] = await db
      .update(emailEvents)
      .set({
        event_type: "queued",
        mailbox_id: mailbox.id,
        from_email: mailbox.address,
        to_email: to,
        message_id: event.message_id ?? newMessageId(mailbox.address),
        scheduled_at: new Date(slot).toISOString(),
        metadata: sql`${emailEvents.metadata} || ${JSON.stringify({
          approved_at: new Date().toISOString(),
          ...(approvedBy ? { approved_by: approvedBy } : {}),
        })}::jsonb`,
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
      await publishEmail(row.id, slot - now, 0);
      queued.push({ id: row.id, to: row.to_email, scheduled_at: new Date(slot).toISOString() });
    } else {
      skipped.push({ id: event.id, reason: "the draft changed while it was being queued" });
    }
  }
  return { queued, skipped };
}

/**
 * Sends a bounced email again at `atMs` (a soft bounce, Gmail's own quota): queued anew under a new
 * Message-ID (Sent already holds the first one, and a lost answer is looked up by it), with a job of
 * its own (`attempt` names why and which time, keeping its deduplication id apart from the first
 * send's and from any other resend's: a quota resend after a soft one must not be deduplicated away).
 */
export async function resendLater(event: EmailEvent, atMs: number, attempt: string): Promise<void> {
  await setEvent(event.id, {
    event_type: "queued",
    sent_at: null,
    gmail_message_id: null,
    message_id: newMessageId(event.from_email ?? "localhost"),
    scheduled_at: new Date(atMs).toISOString(),
  });
  await publishJob(
    emailWorkerPath,
    { event_id: event.id, deferrals: 0 },
    {
      deduplicationId: `email-${event.id}-resend${attempt}`,
      retries: 3,
      ...(atMs - Date.now() > 1000 ? { delaySeconds: Math.ceil((atMs - Date.now()) / 1000) } : {}),
    },
  );
}

/** Why an email must not go out now, checked at send time: the lead's eligibility, its company, the campaign. */
async function stopReason(event: EmailEvent, lead: LeadRow | undefined): Promise<string | undefined> {
  if (!lead) {
    return "the lead is gone";
  }
  const ineligible = await whyNotEmail(lead);
  if (ineligible) {
    return ineligible;
  }
  const db = await serviceDb();
  if (lead.company || lead.website) {
    // A reply from anyone at the company stops the sequence for all of it.
    const sameCompany = or(
      lead.website ? eq(leads.website, lead.website) : undefined,
      lead.company ? sql`lower(${leads.company}) = ${lead.company.toLowerCase()}` : undefined,
    );
    const [colleague] = await db
      .select({ id: leads.id })
      .from(leads)
      .where(
        and(
          eq(leads.workspace_id, lead.workspace_id),
          inArray(leads.status, ["replied", "meeting_booked"]),
          sameCompany,
        ),
      )
      .limit(1);
    if (colleague) {
      return `someone at ${lead.company ?? lead.website} replied`;
    }
  }
  if (event.campaign_id) {
    const [campaign] = await db
      .select({ status: campaigns.status })
      .from(campaigns)
      .where(and(eq(campaigns.id, event.campaign_id), eq(campaigns.workspace_id, event.workspace_id)));
    if (campaign && ["paused", "completed", "archived"].includes(campaign.status)) {
      return `the campaign is ${campaign.status}`;
    }
  }
  return undefined;
}

/** An out-of-office reply pauses the lead until its return date; its emails wait, they are not dropped. */
function leadPausedUntil(lead: LeadRow | undefined): number {
  const until = (lead?.metadata as { paused_until?: string } | undefined)?.paused_until;
  return until ? Date.parse(until) || 0 : 0;
}

/** The earlier message of this lead's thread from the same mailbox, for a follow-up's threading headers. */
async function threadOf(event: EmailEvent) {
  if (event.sequence_step === 0 || !event.lead_id || !event.mailbox_id) {
    return undefined;
  }
  const db = await serviceDb();
  const [first] = await db
    .select()
    .from(emailEvents)
    .where(
      and(
        eq(emailEvents.lead_id, event.lead_id),
        eq(emailEvents.mailbox_id, event.mailbox_id),
        event.campaign_id ? eq(emailEvents.campaign_id, event.campaign_id) : sql`true`,
        inArray(emailEvents.event_type, ["sent", "outboxed"]),
      ),
    )
    .orderBy(asc(emailEvents.sent_at))
    .limit(1);
  return first?.message_id
    ? { messageId: first.message_id, threadId: first.gmail_thread_id ?? undefined }
    : undefined;
}

async function buildMime(
  event: EmailEvent,
  to: string,
  mailbox: MailboxRow,
  thread: Awaited<ReturnType<typeof threadOf>>,
  sender: Sender,
) {
  const url = unsubscribeUrl({
    workspaceId: event.workspace_id,
    userId: event.user_id,
    leadId: event.lead_id,
    email: to,
  });
  const { text, html } = withFooter({ text: event.body_text, html: event.body_html }, sender, url);
  return composeEmail({
    from: { name: mailbox.display_name ?? undefined, address: mailbox.address },
    to: { address: to },
    subject: event.subject ?? "",
    text,
    html,
    messageId: event.message_id ?? newMessageId(mailbox.address),
    unsubscribe: { url, mailto: unsubscribeMailto(mailbox.address) },
    ...(thread ? { inReplyTo: thread.messageId, references: [thread.messageId] } : {}),
  });
}

/** Google's Gmail client, loaded only where a send needs it: queuing mail never loads it. */
async function gmailClient() {
  return (await import("../google/gmail")).gmailApi;
}

/** Gmail's Sent: the message with this Message-ID, if a send whose outcome was lost did go out. */
async function findSent(connection: Connection, messageId: string) {
  const api = await gmailClient();
  return withGoogle(connection, async (auth) => {
    const found = await api(auth).users.messages.list({
      userId: "me",
      q: `in:sent rfc822msgid:${messageId.replace(/^<|>$/g, "")}`,
      maxResults: 1,
    });
    const message = found.data.messages?.[0];
    return message?.id ? { id: message.id, threadId: message.threadId ?? null } : undefined;
  });
}

async function markSent(
  event: EmailEvent,
  sent: { id: string | null; threadId: string | null },
  outboxed = false,
) {
  const db = await serviceDb();
  await db.transaction(async (tx) => {
    await tx
      .update(emailEvents)
      .set({
        event_type: outboxed ? "outboxed" : "sent",
        gmail_message_id: sent.id,
        gmail_thread_id: sent.threadId,
        sent_at: new Date().toISOString(),
        error: outboxed
          ? "Not sent: the workspace has no Google account connected; the message is in the outbox"
          : null,
      })
      .where(eq(emailEvents.id, event.id));
    if (event.lead_id) {
      const entry = JSON.stringify([
        { at: new Date().toISOString(), event: outboxed ? "outboxed" : "emailed", email_event_id: event.id },
      ]);
      await tx
        .update(leads)
        .set({
          status: sql`case when ${leads.status} = 'new' then 'contacted' else ${leads.status} end`,
          history: sql`${leads.history} || ${entry}::jsonb`,
        })
        .where(and(eq(leads.id, event.lead_id), eq(leads.workspace_id, event.workspace_id)));
    }
  });
}

async function setEvent(eventId: string, values: Partial<EmailEvent>) {
  const db = await serviceDb();
  await db.update(emailEvents).set(values).where(eq(emailEvents.id, eventId));
}

export type Delivery =
  | { outcome: "sent" | "outboxed" | "found_in_sent"; gmail_message_id: string | null }
  | { outcome: "cancelled"; reason: string }
  | { outcome: "deferred"; until: string; reason: string }
  | { outcome: "already_done" | "no_such_email"; status?: string }
  | { outcome: "failed"; reason: string };

const deferred = (until: number, reason: string): Delivery => ({
  outcome: "deferred",
  until: new Date(until).toISOString(),
  reason,
});

/**
 * Sends one queued email at most once, from the mailbox it was queued on. Under the mailbox's lock:
 * the send-time checks (recipient re-derived from the lead, the workspace's suppression list, lead
 * and campaign status), the pacing check, the claim (queued → sending, or a `sending` whose outcome
 * was lost — stale, or left by an earlier delivery of the same QStash message — after Sent has been
 * searched for its Message-ID), the send, the outcome. Throws ApiError 503 for a transient failure
 * whose message is confirmed absent from Sent, so QStash retries it.
 */
export async function deliverEmail(eventId: string, deliveryId = ""): Promise<Delivery> {
  const db = await serviceDb();
  const [first] = await db.select().from(emailEvents).where(eq(emailEvents.id, eventId));
  if (!first) {
    return { outcome: "no_such_email" };
  }
  const mailbox = first.mailbox_id ? await mailboxById(first.mailbox_id) : undefined;
  if (!mailbox) {
    return { outcome: "already_done", status: first.event_type };
  }
  const lock = await acquireLock(`mailbox:${mailbox.id}`, 60_000, 20_000);
  if (!lock) {
    return deferred(Date.now() + 30_000, "the mailbox is busy");
  }
  try {
    const [event] = await db.select().from(emailEvents).where(eq(emailEvents.id, eventId));
    if (!event || (event.event_type !== "queued" && event.event_type !== "sending")) {
      return { outcome: "already_done", status: event?.event_type };
    }
    const connection =
      mailbox.kind === "gmail" && mailbox.connection_id
        ? await connectionById(mailbox.connection_id)
        : undefined;
    if (mailbox.status !== "active" || (mailbox.kind === "gmail" && connection?.status === "disconnected")) {
      await setEvent(event.id, { event_type: "cancelled", error: "the sending mailbox was disconnected" });
      return { outcome: "cancelled", reason: "the sending mailbox was disconnected" };
    }
    if (mailbox.kind === "gmail" && connection?.status !== "active") {
      return deferred(Date.now() + reconnectWaitMs, "the Google account must be reconnected");
    }
    const claim = event.metadata as { claimed_at?: number; claimed_by?: string };
    if (event.event_type === "sending") {
      // QStash redelivers a message only once its previous delivery failed: a claim made by an
      // earlier delivery of this same message died with it, however recent.
      const ownDeadClaim = deliveryId !== "" && claim.claimed_by === deliveryId;
      if (!ownDeadClaim && Date.now() - Number(claim.claimed_at ?? 0) < claimStaleMs) {
        throw new ApiError("conflict", "The email is being sent", { headers: { "retry-after": "60" } });
      }
      const found = connection && event.message_id ? await findSent(connection, event.message_id) : undefined;
      if (found) {
        await markSent(event, found);
        return { outcome: "found_in_sent", gmail_message_id: found.id };
      }
    }
    const lead = await leadOf(event);
    const pausedLead = leadPausedUntil(lead);
    if (pausedLead > Date.now()) {
      return deferred(pausedLead, "the lead is out of office");
    }
    const stop = await stopReason(event, lead);
    if (stop || !lead?.email) {
      const reason = stop ?? "no recipient address";
      await setEvent(event.id, { event_type: "cancelled", error: reason });
      return { outcome: "cancelled", reason };
    }
    const to = lead.email;
    // The postal address may have been cleared since approval: then nothing goes out without it.
    const sender = await senderOf(event.workspace_id).catch((error: unknown) => {
      if (error instanceof ApiError && error.code === "postal_address_required") {
        return undefined;
      }
      throw error;
    });
    if (!sender) {
      const reason = "the workspace has no postal address for the footer";
      await setEvent(event.id, { event_type: "cancelled", error: reason });
      return { outcome: "cancelled", reason };
    }
    const current = await mailboxById(mailbox.id);
    const pausedUntil = current?.paused_until ? timestampMs(current.paused_until) : 0;
    if (pausedUntil > Date.now()) {
      return deferred(pausedUntil, current?.pause_reason ?? "paused");
    }
    // Checked again when a day old: a domain that lost its SPF and DKIM since approval waits (the
    // check runs again the next day), it does not send unauthenticated mail.
    const refusal = current ? senderRefusal(await senderCheckOf(current)) : undefined;
    if (refusal) {
      return deferred(Date.now() + day, refusal);
    }
    const now = Date.now();
    const slot = earliestSlot(await recentSends(mailbox.id, now - day), now, pacingRules(mailbox));
    if (slot > now + 1000) {
      return deferred(slot, "pacing");
    }

    const [claimed] = await db
      .update(emailEvents)
      .set({
        event_type: "sending",
        to_email: to,
        from_email: mailbox.address,
        sent_at: new Date(now).toISOString(),
        metadata: sql`${emailEvents.metadata} || ${JSON.stringify({ claimed_at: now, claimed_by: deliveryId })}::jsonb`,
      })
      .where(and(eq(emailEvents.id, event.id), inArray(emailEvents.event_type, ["queued", "sending"])))
      .returning();
    if (!claimed) {
      return { outcome: "already_done" };
    }
    const thread = await threadOf(claimed);
    const mime = await buildMime(claimed, to, mailbox, thread, sender);
    if (mailbox.kind === "outbox" || !connection) {
      const dir = getConfig().OUTBOX_DIR;
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `${claimed.id}.eml`), mime);
      await setEvent(claimed.id, {
        metadata: { ...(claimed.metadata as object), mime: mime.toString("utf8") },
      });
      await markSent(claimed, { id: null, threadId: null }, true);
      return { outcome: "outboxed", gmail_message_id: null };
    }
    const api = await gmailClient();
    try {
      const sent = await withGoogle(connection, (auth) =>
        api(auth).users.messages.send({
          userId: "me",
          requestBody: {
            raw: mime.toString("base64url"),
            ...(thread?.threadId ? { threadId: thread.threadId } : {}),
          },
        }),
      );
      await markSent(claimed, { id: sent.data.id ?? null, threadId: sent.data.threadId ?? null });
      return { outcome: "sent", gmail_message_id: sent.data.id ?? null };
    } catch (error) {
      if (error instanceof ApiError && error.code === "google_reconnect_required") {
        // Nothing reached Gmail: the token was refused before the send.
        await setEvent(claimed.id, { event_type: "queued", sent_at: null });
        return deferred(Date.now() + reconnectWaitMs, "the Google account must be reconnected");
      }
      return await afterFailedSend(claimed, classifyGmailError(error), mailbox, connection);
    }
  } finally {
    await lock.release();
  }
}

async function afterFailedSend(
  event: EmailEvent,
  failure: GmailFailure,
  mailbox: MailboxRow,
  connection: Connection,
): Promise<Delivery> {
  const requeue = () => setEvent(event.id, { event_type: "queued", sent_at: null });
  switch (failure.kind) {
    case "rate_limited":
      await requeue();
      return deferred(Date.now() + failure.retryAfterSeconds * 1000, `Gmail rate limit: ${failure.message}`);
    case "sending_limit": {
      const until = failure.until.toISOString();
      await pauseMailbox(mailbox.id, until, `Gmail sending limit: ${failure.message}`);
      await requeue();
      await alertAdmins({
        workspaceId: event.workspace_id,
        type: "mailbox.paused",
        severity: "warning",
        title: `Sending paused for ${mailbox.address}`,
        message: `Gmail reports the account's sending limit reached (${failure.message}). Queued emails resume at ${until}; nothing is lost.`,
        metadata: { mailbox: mailbox.address, until, gmail_message: failure.message },
      });
      return { outcome: "deferred", until, reason: "Gmail sending limit" };
    }
    case "transient": {
      // The outcome is unknown: only when Sent does not hold the message may it be sent again.
      const found = event.message_id
        ? await findSent(connection, event.message_id).catch(() => undefined)
        : undefined;
      if (found) {
        await markSent(event, found);
        return { outcome: "found_in_sent", gmail_message_id: found.id };
      }
      await requeue();
      throw new ApiError("service_unavailable", `Gmail did not answer: ${failure.message}`, {
        headers: { "retry-after": "30" },
      });
    }
    case "permanent":
      await setEvent(event.id, {
        event_type: "failed",
        sent_at: null,
        error: failure.message.slice(0, 1000),
      });
      return { outcome: "failed", reason: failure.message };
  }
}

/** `POST /api/workers/email`: one email; a deferral publishes the job again for its new slot. */
export async function runEmailJob(ctx: RequestContext & { delivery: QStashDelivery }): Promise<Response> {
  const job = await readJob(ctx, emailJob, "email");
  if (!job) {
    return invalidJob();
  }
  if ("sync_mailbox" in job) {
    const { syncMailbox } = await import("./inbound");
    const synced = await syncMailbox(job.sync_mailbox, ctx.log);
    if (synced === "busy") {
      throw new ApiError("conflict", "The mailbox is being synced", { headers: { "retry-after": "20" } });
    }
    return json({ success: true, data: synced });
  }
  const result = await deliverEmail(job.event_id, ctx.delivery.messageId);
  if (result.outcome === "deferred") {
    if (job.deferrals >= 200) {
      await setEvent(job.event_id, {
        event_type: "cancelled",
        error: `put off too often (${result.reason})`,
      });
      return json({ success: true, data: { outcome: "cancelled", reason: result.reason } });
    }
    await publishEmail(job.event_id, Date.parse(result.until) - Date.now(), job.deferrals + 1);
  }
  return json({ success: true, data: result });
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
