import { gmail, type gmail_v1 } from "@googleapis/gmail";
import { getConfig } from "../config";
import { googleAuth, googleRootUrl } from "./auth";

/**
 * The one way to talk to Gmail: the sending mailbox's client, authorised as the business's Google
 * account (./auth). Without credentials there is no client and the email worker writes to the outbox.
 */
export interface Mailbox {
  address: string;
  name: string | undefined;
  api: gmail_v1.Gmail;
  /** Per-call options: Gmail's media upload path ignores the service-level root. */
  rootUrl: string | undefined;
}

let cached: Mailbox | null | undefined;

export function gmailMailbox(): Mailbox | null {
  if (cached !== undefined) {
    return cached;
  }
  const config = getConfig();
  const auth = googleAuth();
  if (!auth || !config.GMAIL_SENDER) {
    cached = null;
    return cached;
  }
  const rootUrl = googleRootUrl();
  cached = {
    address: config.GMAIL_SENDER,
    name: config.GMAIL_SENDER_NAME,
    api: gmail({ version: "v1", auth, ...(rootUrl ? { rootUrl } : {}), retry: false }),
    rootUrl,
  };
  return cached;
}
