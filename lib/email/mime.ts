import { randomUUID } from "node:crypto";
import { domainToASCII } from "node:url";
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

/**
 * An address with its domain as ASCII (IDNA, punycode) for the places a header must be ASCII: the
 * Message-ID and the List-Unsubscribe mailto (RFC 5322 and RFC 6068; nodemailer converts only the
 * From and To addresses it writes). A domain IDNA refuses is kept as it is.
 */
export function asciiAddress(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0) {
    return address;
  }
  const domain = address.slice(at + 1);
  return `${address.slice(0, at)}@${domainToASCII(domain) || domain}`;
}

/** A Message-ID on the sender's domain (ASCII): `<uuid@domain>`. */
export function newMessageId(fromAddress: string): string {
  const domain = asciiAddress(fromAddress).split("@")[1] || "localhost";
  return `<${randomUUID()}@${domain}>`;
}

/** The List-Unsubscribe mailto of a mailbox (RFC 8058 fallback; read by replies.ts's unsubscribe rule). */
export const unsubscribeMailto = (mailboxAddress: string) =>
  `mailto:${asciiAddress(mailboxAddress)}?subject=unsubscribe`;

/** Every line break as CRLF (RFC 5322 §2.3: CR and LF occur only together); nodemailer keeps a part's text as given. */
export const crlf = (text: string) => text.replace(/\r\n|\r|\n/g, "\r\n");

/**
 * The RFC 5322 message as it goes to Gmail (`raw`), composed by nodemailer, CRLF throughout: text and HTML
 * alternatives, our Message-ID, threading headers for follow-ups, and the bulk-sender headers
 * (`List-Unsubscribe` with the HTTPS URL and a mailto, `List-Unsubscribe-Post: List-Unsubscribe=One-Click`).
 * `List-Unsubscribe` is written unfolded: a fold inside the angle brackets broke DKIM (nodemailer #1654).
 */
export async function composeEmail(email: OutgoingEmail): Promise<Buffer> {
  const composer = new MailComposer({
    from: email.from,
    to: { name: email.to.name ?? "", address: email.to.address },
    subject: email.subject,
    text: crlf(email.text),
    html: crlf(email.html),
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
