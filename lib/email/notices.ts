import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { getConfig } from "../config";
import { emailEvents } from "../db/schema";
import { serviceDb } from "../db/service";
import { connectionById, withGoogle } from "../google/connections";
import { sendingMailbox } from "./mailboxes";
import { composeEmail, newMessageId } from "./mime";

export interface Notice {
  workspaceId: string;
  /** The member it is sent for (an invitation: the inviter). */
  userId: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  kind: "invitation";
}

/**
 * A transactional notice (an invitation to a workspace) from the workspace's own mailbox, or to the
 * outbox when it has none: sent at once, not paced as outreach and without an unsubscribe link, but
 * recorded as an email event so the mailbox's sending counts it.
 */
export async function sendNotice(notice: Notice): Promise<{ id: string; outcome: "sent" | "outboxed" }> {
  const mailbox = await sendingMailbox(notice.workspaceId);
  const messageId = newMessageId(mailbox.address);
  const mime = await composeEmail({
    from: { name: mailbox.display_name ?? undefined, address: mailbox.address },
    to: { address: notice.to },
    subject: notice.subject,
    text: notice.text,
    html: notice.html,
    messageId,
  });
  const db = await serviceDb();
  const [event] = await db
    .insert(emailEvents)
    .values({
      workspace_id: notice.workspaceId,
      user_id: notice.userId,
      mailbox_id: mailbox.id,
      event_type: "sending",
      to_email: notice.to,
      from_email: mailbox.address,
      subject: notice.subject,
      body_text: notice.text,
      body_html: notice.html,
      message_id: messageId,
      sent_at: new Date().toISOString(),
      metadata: { kind: notice.kind },
    })
    .returning({ id: emailEvents.id });
  const id = event?.id ?? "";
  const connection =
    mailbox.kind === "gmail" && mailbox.connection_id
      ? await connectionById(mailbox.connection_id)
      : undefined;
  if (!connection) {
    const dir = getConfig().OUTBOX_DIR;
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${id}.eml`), mime);
    await db
      .update(emailEvents)
      .set({ event_type: "outboxed", metadata: { kind: notice.kind, mime: mime.toString("utf8") } })
      .where(eq(emailEvents.id, id));
    return { id, outcome: "outboxed" };
  }
  try {
    const { gmailApi } = await import("../google/gmail");
    const sent = await withGoogle(connection, (auth) =>
      gmailApi(auth).users.messages.send({ userId: "me", requestBody: { raw: mime.toString("base64url") } }),
    );
    await db
      .update(emailEvents)
      .set({
        event_type: "sent",
        gmail_message_id: sent.data.id ?? null,
        gmail_thread_id: sent.data.threadId ?? null,
      })
      .where(eq(emailEvents.id, id));
    return { id, outcome: "sent" };
  } catch (error) {
    await db
      .update(emailEvents)
      .set({ event_type: "failed", sent_at: null, error: String(error).slice(0, 1000) })
      .where(eq(emailEvents.id, id));
    throw error;
  }
}
