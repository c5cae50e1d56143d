import { and, gt, sql } from "drizzle-orm";
import { raiseAlert } from "../alerts";
import { getConfig } from "../config";
import { emailEvents, mailboxes } from "../db/schema";
import { serviceDb } from "../db/service";
import { gmailMailbox } from "../google/gmail";
import { ApiError } from "../http/errors";
import { ensureMailbox } from "./send";

/**
 * Daily: renews Gmail's `users.watch` for the sending mailbox (a watch lapses after seven days),
 * recording the expiry and, on first watch, the history id processing starts from. A failure alerts
 * everyone who sent from the mailbox in the last 30 days (replies would stop arriving) and answers
 * 503 so QStash tries again.
 */
export async function renewGmailWatch() {
  const config = getConfig();
  const gmail = gmailMailbox();
  if (!gmail || !config.GMAIL_PUSH_TOPIC) {
    return { skipped: gmail ? "GMAIL_PUSH_TOPIC is not set" : "no Gmail credentials (outbox mode)" };
  }
  const mailbox = await ensureMailbox();
  const db = await serviceDb();
  try {
    const { data } = await gmail.api.users.watch({
      userId: "me",
      requestBody: {
        topicName: config.GMAIL_PUSH_TOPIC,
        labelIds: ["INBOX"],
        labelFilterBehavior: "include",
      },
    });
    const expires = new Date(Number(data.expiration ?? Date.now())).toISOString();
    await db
      .update(mailboxes)
      .set({
        watch_expires_at: expires,
        history_id: sql`coalesce(${mailboxes.history_id}, ${data.historyId ?? null})`,
      })
      .where(sql`${mailboxes.id} = ${mailbox.id}`);
    return { mailbox: mailbox.address, watch_expires_at: expires, history_id: data.historyId ?? null };
  } catch (error) {
    const senders = await db
      .selectDistinct({ userId: emailEvents.user_id })
      .from(emailEvents)
      .where(
        and(
          sql`lower(${emailEvents.from_email}) = ${mailbox.address.toLowerCase()}`,
          gt(emailEvents.created_at, new Date(Date.now() - 30 * 86_400_000).toISOString()),
        ),
      );
    for (const { userId } of senders) {
      await raiseAlert({
        userId,
        type: "mailbox.watch_failed",
        severity: "warning",
        title: `Replies to ${mailbox.address} may stop arriving`,
        message: `Renewing Gmail's watch failed (${String(error).slice(0, 200)}). It is retried; until it works, replies are only picked up by the next successful sync.`,
        metadata: { mailbox: mailbox.address },
      });
    }
    throw new ApiError("service_unavailable", "Renewing the Gmail watch failed", {
      cause: error,
      headers: { "retry-after": "300" },
    });
  }
}
