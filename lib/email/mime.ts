import { randomUUID } from "node:crypto";
import MailComposer from "nodemailer/lib/mail-composer/index.js";

export interface OutgoingEmail {
  from: { name?: string | undefined; address: string };
  to: { name?: string | null | undefined; address: string };
  subject: string;
  text: string;
  html: string;
  /** Our own Message-ID, kept on the email event: how a send with an unknown outcome is found in Sent. */
  messageId: string;
  /** RFC 8058: the HTTPS one-click URL, and a mailto fallback (commercial email; a notice has none). */
  unsubscribe?: { url: string; mailto: string } | undefined;
  /** Follow-ups: the Message-ID this answers and the thread's references. */
  inReplyTo?: string | undefined;
  references?: string[] | undefined;
}

/** A Message-ID on the sender's domain: `<uuid@domain>`. */
export function newMessageId(fromAddress: string): string {
  const domain = fromAddress.split("@")[1] ?? "localhost";
  return `<${randomUUID()}@${domain}>`;
}

/**
 * The RFC 5322 message as it goes to Gmail (`raw`), composed by nodemailer: text and HTML
 * alternatives, our Message-ID, threading headers for follow-ups, and the bulk-sender headers
 * (`List-Unsubscribe` with the HTTPS URL and a mailto, `List-Unsubscribe-Post: List-Unsubscribe=One-Click`).
 * `List-Unsubscribe` is written unfolded: a fold inside the angle brackets broke DKIM (nodemailer #1654).
 */
export async function composeEmail(email: OutgoingEmail): Promise<Buffer> {
  const composer = new MailComposer({
    from: email.from,
    to: { name: email.to.name ?? "", address: email.to.address },
    subject: email.subject,
    text: email.text,
    html: email.html,
    messageId: email.messageId,
    date: new Date(),
    ...(email.inReplyTo ? { inReplyTo: email.inReplyTo } : {}),
    ...(email.references?.length ? { references: email.references } : {}),
    headers: email.unsubscribe
      ? {
          // Prepared: written as is, so no fold can fall inside the angle brackets.
          "List-Unsubscribe": {
            prepared: true,
            value: `<${email.unsubscribe.url}>, <${email.unsubscribe.mailto}>`,
          },
          "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
      : {},
  });
  return composer.compile().build();
}
