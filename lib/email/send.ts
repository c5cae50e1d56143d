import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { and, asc, desc, eq, gt, inArray, isNotNull, or, sql } from "drizzle-orm";
import { z } from "zod";
import { raiseAlert } from "../alerts";
import { getConfig } from "../config";
import { campaigns, emailEvents, leads, mailboxes } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { classifyGmailError, type GmailFailure } from "../google/errors";
import { ApiError } from "../http/errors";
import { json, type RequestContext } from "../http/handler";
import { acquireLock } from "../lock";
import { invalidJob, publishJob, type QStashDelivery, readJob } from "../queue";
import { composeEmail, newMessageId } from "./mime";
import { earliestSlot, type PacingRules, planSlots } from "./pacing";
import { senderAddress } from "./sender";
import { isSuppressed } from "./suppression";
import { unsubscribeUrl } from "./unsubscribe";

export const emailWorkerPath = "/api/workers/email";
const sendJob = z.object({ event_id: z.uuid(), deferrals: z.int().min(0).max(200).default(0) });
const syncJob = z.object({ sync_mailbox: z.email(), history_id: z.string().optional() });
/** The email worker's two jobs: send one email, or process a mailbox's changes after a push. */
export const emailJob = z.union([sendJob, syncJob]);
type EmailEvent = typeof emailEvents.$inferSelect;
type MailboxRow = typeof mailboxes.$inferSelect;

/** A claim older than this with no outcome is taken to have died mid-send: Sent is searched first. */
const claimStaleMs = 60_000;
const day = 86_400_000;

/** The sending mailbox's row (created on first use with the configured caps). */
export async function ensureMailbox(): Promise<MailboxRow> {
  const config = getConfig();
  const { address, name } = senderAddress();
  const db = await serviceDb();
  await db.execute(sql`
    insert into ${mailboxes} (address, display_name, daily_cap, hourly_cap, min_gap_seconds)
    values (${address.toLowerCase()}, ${name ?? null}, ${config.EMAIL_DAILY_CAP}, ${config.EMAIL_HOURLY_CAP},
      ${config.EMAIL_MIN_GAP_SECONDS})
    on conflict (lower(address)) do nothing`);
  const [row] = await db
    .select()
    .from(mailboxes)
    .where(sql`lower(${mailboxes.address}) = ${address.toLowerCase()}`);
  if (!row) {
    throw new Error(`mailbox ${address} vanished`);
  }
  return row;
}

function rulesOf(mailbox: MailboxRow): PacingRules {
  return {
    dailyCap: mailbox.daily_cap,
    hourlyCap: mailbox.hourly_cap,
    minGapMs: mailbox.min_gap_seconds * 1000,
    jitterMs: getConfig().EMAIL_GAP_JITTER_SECONDS * 1000,
  };
}

/** Send times of the mailbox in the last day (sent, outboxed or being sent). */
async function recentSends(address: string, since: number): Promise<number[]> {
  const db = await serviceDb();
  const rows = await db
    .select({ at: emailEvents.sent_at })
    .from(emailEvents)
    .where(
      and(
        sql`lower(${emailEvents.from_email}) = ${address.toLowerCase()}`,
        isNotNull(emailEvents.sent_at),
        gt(emailEvents.sent_at, new Date(since).toISOString()),
      ),
    );
  return rows.map((row) => timestampMs(`${row.at}`));
}

/** Planned slots of queued emails of the mailbox, so a new batch is placed after them. */
async function plannedSends(address: string): Promise<number[]> {
  const db = await serviceDb();
  const rows = await db
    .select({ at: emailEvents.scheduled_at })
    .from(emailEvents)
    .where(
      and(
        sql`lower(${emailEvents.from_email}) = ${address.toLowerCase()}`,
        eq(emailEvents.event_type, "queued"),
        isNotNull(emailEvents.scheduled_at),
      ),
    );
  return rows.map((row) => timestampMs(`${row.at}`));
}

function publishEmail(eventId: string, delayMs: number, deferrals: number) {
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
 * Queues drafted or approved emails of a user: each gets its Message-ID and a slot from the
 * mailbox's pacing (follow-ups before first emails), and one QStash job delayed to that slot.
 */
export async function queueEmails(userId: string, eventIds: string[]) {
  const db = await serviceDb();
  const mailbox = await ensureMailbox();
  const events = await db
    .select()
    .from(emailEvents)
    .where(
      and(
        eq(emailEvents.user_id, userId),
        inArray(emailEvents.id, eventIds),
        inArray(emailEvents.event_type, ["drafted", "approved"]),
      ),
    )
    .orderBy(desc(emailEvents.sequence_step), asc(emailEvents.created_at));
  const now = Date.now();
  const taken = [
    ...(await recentSends(mailbox.address, now - day)),
    ...(await plannedSends(mailbox.address)),
  ];
  const slots = planSlots(taken, events.length, now, rulesOf(mailbox));
  const queued: { id: string; to: string | null; scheduled_at: string }[] = [];
  for (const [index, event] of events.entries()) {
    const slot = slots[index] ?? now;
    const [row] = await db
      .update(emailEvents)
      .set({
        event_type: "queued",
        from_email: mailbox.address,
        message_id: event.message_id ?? newMessageId(mailbox.address),
        scheduled_at: new Date(slot).toISOString(),
        metadata: sql`${emailEvents.metadata} || ${JSON.stringify({ approved_at: new Date().toISOString() })}::jsonb`,
      })
      .where(and(eq(emailEvents.id, event.id), inArray(emailEvents.event_type, ["drafted", "approved"])))
      .returning();
    if (row) {
      await publishEmail(row.id, slot - now, 0);
      queued.push({ id: row.id, to: row.to_email, scheduled_at: new Date(slot).toISOString() });
    }
  }
  return queued;
}

/** Why an email must not go out now, checked at send time: suppressed, replied, paused campaign. */
async function stopReason(event: EmailEvent): Promise<string | undefined> {
  if (!event.to_email) {
    return "no recipient address";
  }
  if (await isSuppressed(event.user_id, event.to_email)) {
    return "the address is suppressed (unsubscribed, bounced or complained)";
  }
  const db = await serviceDb();
  if (event.lead_id) {
    const [lead] = await db.select().from(leads).where(eq(leads.id, event.lead_id));
    if (
      lead &&
      ["replied", "meeting_booked", "unsubscribed", "bounced", "unqualified"].includes(lead.status)
    ) {
      return `the lead is ${lead.status}`;
    }
    if (lead?.company || lead?.website) {
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
            eq(leads.user_id, lead.user_id),
            inArray(leads.status, ["replied", "meeting_booked"]),
            sameCompany,
          ),
        )
        .limit(1);
      if (colleague) {
        return `someone at ${lead.company ?? lead.website} replied`;
      }
    }
  }
  if (event.campaign_id) {
    const [campaign] = await db
      .select({ status: campaigns.status })
      .from(campaigns)
      .where(eq(campaigns.id, event.campaign_id));
    if (campaign && ["paused", "completed", "archived"].includes(campaign.status)) {
      return `the campaign is ${campaign.status}`;
    }
  }
  return undefined;
}

/** An out-of-office reply pauses the lead until its return date; its emails wait, they are not dropped. */
async function leadPausedUntil(event: EmailEvent): Promise<number> {
  if (!event.lead_id) {
    return 0;
  }
  const db = await serviceDb();
  const [lead] = await db.select({ metadata: leads.metadata }).from(leads).where(eq(leads.id, event.lead_id));
  const until = (lead?.metadata as { paused_until?: string } | undefined)?.paused_until;
  return until ? Date.parse(until) || 0 : 0;
}

/** The earlier message of this lead's thread, for a follow-up's threading headers. */
async function threadOf(event: EmailEvent) {
  if (event.sequence_step === 0 || !event.lead_id) {
    return undefined;
  }
  const db = await serviceDb();
  const [first] = await db
    .select()
    .from(emailEvents)
    .where(
      and(
        eq(emailEvents.lead_id, event.lead_id),
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

function withFooter(event: EmailEvent, url: string) {
  const text = `${event.body_text ?? ""}\n\n--\nNot interested? Unsubscribe: ${url}\n`;
  const html = `${event.body_html ?? ""}<hr><p style="font-size:12px;color:#666">Not interested? <a href="${url}">Unsubscribe</a>.</p>`;
  return { text, html };
}

async function buildMime(event: EmailEvent, thread: Awaited<ReturnType<typeof threadOf>>) {
  const { address, name } = senderAddress();
  const url = unsubscribeUrl({ userId: event.user_id, leadId: event.lead_id, email: event.to_email ?? "" });
  const { text, html } = withFooter(event, url);
  return composeEmail({
    from: { name, address },
    to: { address: event.to_email ?? "" },
    subject: event.subject ?? "",
    text,
    html,
    messageId: event.message_id ?? newMessageId(address),
    unsubscribe: { url, mailto: `mailto:${address}?subject=unsubscribe` },
    ...(thread ? { inReplyTo: thread.messageId, references: [thread.messageId] } : {}),
  });
}

/** The Gmail client, loaded only where a send needs it: queuing mail never loads Google's client. */
async function gmail() {
  return (await import("../google/gmail")).gmailMailbox();
}

/** Gmail's Sent: the message with this Message-ID, if a send whose outcome was lost did go out. */
async function findSent(messageId: string) {
  const mailbox = await gmail();
  if (!mailbox) {
    return undefined;
  }
  const found = await mailbox.api.users.messages.list({
    userId: "me",
    q: `in:sent rfc822msgid:${messageId.replace(/^<|>$/g, "")}`,
    maxResults: 1,
  });
  const message = found.data.messages?.[0];
  return message?.id ? { id: message.id, threadId: message.threadId ?? null } : undefined;
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
          ? "Not sent: no Gmail credentials are configured; the message is in the outbox"
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
        .where(eq(leads.id, event.lead_id));
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

/**
 * Sends one queued email at most once. Under the mailbox's lock: the send-time checks, the pacing
 * check, the claim (queued → sending, or a `sending` whose outcome was lost — stale, or left by an
 * earlier delivery of the same QStash message — after Sent has been searched for its Message-ID),
 * the send, the outcome. Throws ApiError 503 for a transient
 * failure whose message is confirmed absent from Sent, so QStash retries it.
 */
export async function deliverEmail(eventId: string, deliveryId = ""): Promise<Delivery> {
  const db = await serviceDb();
  const mailbox = await ensureMailbox();
  const lock = await acquireLock(`mailbox:${mailbox.address.toLowerCase()}`, 60_000, 20_000);
  if (!lock) {
    return {
      outcome: "deferred",
      until: new Date(Date.now() + 30_000).toISOString(),
      reason: "the mailbox is busy",
    };
  }
  try {
    const [event] = await db.select().from(emailEvents).where(eq(emailEvents.id, eventId));
    if (!event) {
      return { outcome: "no_such_email" };
    }
    if (event.event_type !== "queued" && event.event_type !== "sending") {
      return { outcome: "already_done", status: event.event_type };
    }
    const claim = event.metadata as { claimed_at?: number; claimed_by?: string };
    if (event.event_type === "sending") {
      // QStash redelivers a message only once its previous delivery failed: a claim made by an
      // earlier delivery of this same message died with it, however recent.
      const ownDeadClaim = deliveryId !== "" && claim.claimed_by === deliveryId;
      if (!ownDeadClaim && Date.now() - Number(claim.claimed_at ?? 0) < claimStaleMs) {
        throw new ApiError("conflict", "The email is being sent", { headers: { "retry-after": "60" } });
      }
      const found = event.message_id ? await findSent(event.message_id) : undefined;
      if (found) {
        await markSent(event, found);
        return { outcome: "found_in_sent", gmail_message_id: found.id };
      }
    }
    const pausedLead = await leadPausedUntil(event);
    if (pausedLead > Date.now()) {
      return {
        outcome: "deferred",
        until: new Date(pausedLead).toISOString(),
        reason: "the lead is out of office",
      };
    }
    const stop = await stopReason(event);
    if (stop) {
      await setEvent(event.id, { event_type: "cancelled", error: stop });
      return { outcome: "cancelled", reason: stop };
    }
    const [current] = await db.select().from(mailboxes).where(eq(mailboxes.id, mailbox.id));
    const pausedUntil = current?.paused_until ? timestampMs(current.paused_until) : 0;
    if (pausedUntil > Date.now()) {
      return {
        outcome: "deferred",
        until: new Date(pausedUntil).toISOString(),
        reason: current?.pause_reason ?? "paused",
      };
    }
    const now = Date.now();
    const slot = earliestSlot(await recentSends(mailbox.address, now - day), now, rulesOf(mailbox));
    if (slot > now + 1000) {
      return { outcome: "deferred", until: new Date(slot).toISOString(), reason: "pacing" };
    }

    const [claimed] = await db
      .update(emailEvents)
      .set({
        event_type: "sending",
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
    const mime = await buildMime(claimed, thread);
    const client = await gmail();
    if (!client) {
      const dir = getConfig().OUTBOX_DIR;
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `${claimed.id}.eml`), mime);
      await db
        .update(emailEvents)
        .set({
          metadata: sql`${emailEvents.metadata} || ${JSON.stringify({ mime: mime.toString("utf8") })}::jsonb`,
        })
        .where(eq(emailEvents.id, claimed.id));
      await markSent(claimed, { id: null, threadId: null }, true);
      return { outcome: "outboxed", gmail_message_id: null };
    }
    try {
      const sent = await client.api.users.messages.send({
        userId: "me",
        requestBody: {
          raw: mime.toString("base64url"),
          ...(thread?.threadId ? { threadId: thread.threadId } : {}),
        },
      });
      await markSent(claimed, { id: sent.data.id ?? null, threadId: sent.data.threadId ?? null });
      return { outcome: "sent", gmail_message_id: sent.data.id ?? null };
    } catch (error) {
      return await afterFailedSend(claimed, classifyGmailError(error), mailbox);
    }
  } finally {
    await lock.release();
  }
}

async function afterFailedSend(
  event: EmailEvent,
  failure: GmailFailure,
  mailbox: MailboxRow,
): Promise<Delivery> {
  const requeue = () => setEvent(event.id, { event_type: "queued", sent_at: null });
  switch (failure.kind) {
    case "rate_limited":
      await requeue();
      return {
        outcome: "deferred",
        until: new Date(Date.now() + failure.retryAfterSeconds * 1000).toISOString(),
        reason: "Gmail rate limit",
      };
    case "daily_quota": {
      const until = new Date(Date.now() + day).toISOString();
      const db = await serviceDb();
      await db
        .update(mailboxes)
        .set({
          paused_until: until,
          pause_reason: `Gmail daily sending limit: ${failure.message}`.slice(0, 500),
        })
        .where(eq(mailboxes.id, mailbox.id));
      await requeue();
      await raiseAlert({
        userId: event.user_id,
        type: "mailbox.paused",
        severity: "warning",
        title: `Sending paused for ${mailbox.address}`,
        message:
          "Gmail reports the daily sending limit reached. Queued emails resume in 24 hours; nothing is lost.",
        metadata: { mailbox: mailbox.address, until },
      });
      return { outcome: "deferred", until, reason: "Gmail daily sending limit" };
    }
    case "transient": {
      // The outcome is unknown: only when Sent does not hold the message may it be sent again.
      const found = event.message_id ? await findSent(event.message_id).catch(() => undefined) : undefined;
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
    await publishEmail(job.event_id, Date.parse(result.until) - Date.now(), job.deferrals + 1);
  }
  return json({ success: true, data: result });
}
