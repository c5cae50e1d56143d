import { getConfig } from "../config";

/** The sender's address in either mode (the outbox writes as the configured sender too). */
export function senderAddress(): { address: string; name: string | undefined } {
  const config = getConfig();
  return { address: config.GMAIL_SENDER ?? "outbox@localhost.localdomain", name: config.GMAIL_SENDER_NAME };
}
