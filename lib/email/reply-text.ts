/**
 * The sender's own words in a reply: what comes before the quote of our email (an "On … wrote:"
 * line, an "Original Message" divider, `>` lines, or our footer quoted bare). Only these words are
 * read for meaning, so the quoted footer's own "Unsubscribe" never reads as a request.
 */
export function ownText(text: string): string {
  return (
    text.split(
      /\bOn\b[^\n]{0,200}?\bwrote:|-{2,}\s*Original Message|^>|\n>|Not interested\? Unsubscribe/i,
    )[0] ?? ""
  ).trim();
}

/**
 * Whether a message to the mailbox asks to stop: the subject our List-Unsubscribe mailto sets
 * (RFC 2369 §3.2), or the word in the subject or the sender's own text. Deterministic, so a model
 * that is down or over budget never misses one.
 */
export function asksToUnsubscribe(subject: string, text: string): boolean {
  const bareSubject = subject.replace(/^\s*((re|aw|sv|fw|fwd)\s*:\s*)+/i, "");
  return /\bunsubscribe\b/i.test(bareSubject) || /\bunsubscribe\b/i.test(ownText(text));
}
