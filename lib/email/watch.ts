import { alertAdmins } from "../alerts";
import { getConfig } from "../config";
import { liveConnections, withGoogle } from "../google/connections";
import { ApiError, toApiError } from "../http/errors";
import type { Logger } from "../log";
import { mailboxOfConnection, recordWatch } from "./mailboxes";

export interface WatchResult {
  mailbox: string;
  watch_expires_at?: string;
  history_id?: string | null;
  error?: string;
  code?: string;
}

/**
 * Daily: renews Gmail's `users.watch` for every connected mailbox (a watch lapses after seven days),
 * recording the expiry and, on first watch, the history id processing starts from. One mailbox's
 * failure alerts its workspace's admins (replies would stop arriving) and does not stop the others;
 * the run answers 503 afterwards so QStash tries again.
 */
export async function renewGmailWatch(log: Logger) {
  const config = getConfig();
  if (!config.GMAIL_PUSH_TOPIC) {
    return { skipped: "GMAIL_PUSH_TOPIC is not set", mailboxes: [] as WatchResult[] };
  }
  const results: WatchResult[] = [];
  for (const connection of await liveConnections()) {
    if (connection.status !== "active") {
      continue;
    }
    const mailbox = await mailboxOfConnection(connection);
    try {
      const data = await withGoogle(connection, async (auth) => {
        // Loaded here, not at module load: a run with no active connection never talks to Gmail.
        const { gmailApi } = await import("../google/gmail");
        const { data } = await gmailApi(auth).users.watch({
          userId: "me",
          requestBody: {
            topicName: config.GMAIL_PUSH_TOPIC,
            labelIds: ["INBOX"],
            labelFilterBehavior: "include",
          },
        });
        return data;
      });
      const expires = new Date(Number(data.expiration ?? Date.now())).toISOString();
      await recordWatch(mailbox.id, expires, data.historyId ?? null);
      results.push({
        mailbox: mailbox.address,
        watch_expires_at: expires,
        history_id: data.historyId ?? null,
      });
    } catch (thrown) {
      const error = toApiError(thrown);
      log.warn({ mailbox: mailbox.address, err: thrown }, "Gmail watch renewal failed");
      results.push({ mailbox: mailbox.address, error: error.message, code: error.code });
      if (error.code !== "google_reconnect_required") {
        await alertAdmins({
          workspaceId: connection.workspace_id,
          type: "mailbox.watch_failed",
          severity: "warning",
          title: `Replies to ${mailbox.address} may stop arriving`,
          message: `Renewing Gmail's watch failed (${String(thrown).slice(0, 200)}). It is retried; until it works, replies are only picked up by the next successful sync.`,
          metadata: { mailbox: mailbox.address },
        });
      }
    }
  }
  // A connection waiting to be reconnected is its admins' to fix (they were alerted); retrying won't.
  const failed = results.filter((result) => result.error && result.code !== "google_reconnect_required");
  if (failed.length > 0) {
    throw new ApiError(
      "service_unavailable",
      `Renewing the Gmail watch failed for ${failed.length} mailbox(es)`,
      {
        headers: { "retry-after": "300" },
        details: { mailboxes: results },
      },
    );
  }
  return { mailboxes: results };
}
