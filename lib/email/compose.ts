/**
 * Building an outgoing email: the thread it continues (the first message of the lead's sequence sent
 * from the same mailbox) and the MIME itself, with the footer (the workspace's name and postal
 * address, the unsubscribe link) and the one-click unsubscribe headers.
 */
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { emailEvents } from "../db/schema";
import { serviceDb } from "../db/service";
import { type Sender, withFooter } from "./footer";
import type { MailboxRow } from "./mailboxes";
import { composeEmail, newMessageId, unsubscribeMailto } from "./mime";
import { unsubscribeUrl } from "./unsubscribe";

type EmailEvent = typeof emailEvents.$inferSelect;
export interface Thread {
  messageId: string;
  threadId?: string;
}

/** The earlier message of this lead's thread from the same mailbox, for a follow-up's threading headers. */
export async function threadOf(event: EmailEvent): Promise<Thread | undefined> {
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

export async function buildMime(
  event: EmailEvent,
  to: string,
  mailbox: MailboxRow,
  thread: Thread | undefined,
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
