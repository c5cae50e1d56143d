import { gmail, type gmail_v1 } from "@googleapis/gmail";
import { type GoogleAuth, googleRootUrl } from "./connections";

/**
 * The one way to talk to Gmail: a connection's authorised client (./connections) as the Gmail API.
 * Loaded only where a send or a sync needs it, so functions that only queue mail never load it.
 */
export function gmailApi(auth: GoogleAuth): gmail_v1.Gmail {
  const rootUrl = googleRootUrl();
  return gmail({ version: "v1", auth, ...(rootUrl ? { rootUrl } : {}), retry: false });
}
