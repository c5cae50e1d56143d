/**
 * The sender's own words in a reply: what comes before the quote of our email (an "On … wrote:"
 * attribution, an "Original Message" divider, `>` lines, or our footer quoted bare). Only these
 * words are read for meaning, so the quoted footer's own "Unsubscribe" never reads as a request.
 */
const quoteStarts = [
  // The attribution begins with a capital "On" (a lower-case "on" is just a word in the reply).
  /(?:^|\s)On\s[^\n]{0,200}?\swrote:/,
  /-{2,}\s*Original Message/i,
  /(?:^|\n)>/,
  /Not interested\? Unsubscribe/i,
];

export function ownText(text: string): string {
  const cut = Math.min(
    ...quoteStarts.map((pattern) => {
      const found = pattern.exec(text);
      return found ? found.index : text.length;
    }),
  );
  return text.slice(0, cut).trim();
}

/**
 * Whether a reply to one of our emails asks to stop: the word in its subject or in the sender's own
 * text. Deterministic, so a model that is down or over budget never misses one.
 */
export function asksToUnsubscribe(subject: string, text: string): boolean {
  return /\bunsubscribe\b/i.test(bareSubject(subject)) || /\bunsubscribe\b/i.test(ownText(text));
}

/** A subject without its reply and forward prefixes. */
export function bareSubject(subject: string): string {
  return subject.replace(/^\s*((re|aw|sv|fw|fwd)\s*:\s*)+/i, "").trim();
}

/**
 * Whether a message that is not a reply is what our List-Unsubscribe mailto sends (RFC 2369 §3.2:
 * a message to the address, here with the subject "unsubscribe"): that subject exactly, not a
 * mailing list's own post or newsletter (which carry List-Id or List-Unsubscribe themselves), and
 * from a sender Gmail authenticated (SPF or DKIM passed in its Authentication-Results), so nobody
 * can unsubscribe someone else by forging their From.
 */
export function isUnsubscribeRequest(headers: (name: string) => string): boolean {
  if (!/^unsubscribe$/i.test(bareSubject(headers("Subject")))) {
    return false;
  }
  if (headers("List-Id") || headers("List-Unsubscribe")) {
    return false;
  }
  return /\b(spf|dkim)=pass\b/i.test(headers("Authentication-Results"));
}
