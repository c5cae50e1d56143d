/**
 * Gmail delivery and reconciliation: one queued email sent at most once, from the mailbox it was
 * queued on, after the send-time policy (lib/email/policy.ts), the lead's window and the mailbox's
 * pacing said yes; a lost outcome looked up in Sent by Message-ID; Gmail's refusals classified
 * (rate limit, daily sending limit, transient, permanent).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { and, eq, gt, inArray, isNotNull, sql } from "drizzle-orm";
import { alertAdmins } from "../alerts";
import { getConfig } from "../config";
import { emailEvents, leads } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { type Connection, connectionById, withGoogle } from "../google/connections";
import { classifyGmailError, type GmailFailure } from "../google/errors";
import { ApiError } from "../http/errors";
import { acquireLock } from "../lock";
import { publishJob } from "../queue";
import { workspaceRow } from "../workspaces/access";
import { buildMime, threadOf } from "./compose";
import { senderOf } from "./footer";
import {
  type MailboxRow,
  mailboxById,
  pacingRules,
  pauseMailbox,
  senderCheckOf,
  senderRefusal,
} from "./mailboxes";
import { newMessageId } from "./mime";
import { earliestSlot } from "./pacing";
import { leadOf, leadPausedUntil, sendWindowOf, stopReason } from "./policy";
import { emailWorkerPath } from "./queueing";
import { nextOpening } from "./window";

type EmailEvent = typeof emailEvents.$inferSelect;

/** A claim older than this with no outcome is taken to have died mid-send: Sent is searched first. */
const claimStaleMs = 60_000;
/** How long mail waits for a connection Google refused to be reconnected, per deferral. */
const reconnectWaitMs = 3_600_000;
const day = 86_400_000;

/** Send times of the mailbox since `since` (sent, outboxed or being sent). */
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
    // The lead's local window, read now: a delivery that came late (or a window changed since it
    // was planned) waits for the next opening instead of arriving at night.
    const window = await sendWindowOf(await workspaceRow(event.workspace_id), lead);
    const opening = nextOpening(Date.now(), window);
    if (opening > Date.now()) {
      return deferred(opening, "outside the lead's sending window");
    }
    const now = Date.now();
    // Strictly: a send a second early would make the hour or the day one send too many.
    const slot = earliestSlot(await recentSends(mailbox.id, now - day), now, pacingRules(current ?? mailbox));
    if (slot > now) {
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
