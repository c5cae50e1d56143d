import type { gmail_v1 } from "@googleapis/gmail";
import { connectionForEmail, withGoogle } from "../google/connections";
import { gmailApi } from "../google/gmail";
import { tryLock } from "../lock";
import type { Logger } from "../log";
import { advanceHistory, mailboxOfConnection } from "./mailboxes";
import { handleMessage } from "./replies";

/**
 * What a Gmail notification leads to: every message added since the mailbox's stored history id,
 * every page of it, each handled as `replies.ts` says. The cursor only moves forward; a history id
 * too old for Gmail (404) falls back to a sync of recent messages, so nothing is skipped silently.
 */
export interface SyncResult {
  mailbox: string;
  processed: number;
  replies: number;
  bounces: number;
  unsubscribes: number;
  full_sync: boolean;
  history_id: string | null;
}

/** Ids of messages added since `start`, every page; undefined when Gmail no longer has that history. */
async function historySince(
  api: gmail_v1.Gmail,
  start: string,
): Promise<{ ids: string[]; latest: string } | undefined> {
  const ids: string[] = [];
  let latest = start;
  let pageToken: string | undefined;
  do {
    try {
      const { data } = await api.users.history.list({
        userId: "me",
        startHistoryId: start,
        historyTypes: ["messageAdded"],
        // What the watch covers too: replies and bounces arrive in INBOX; our own sends are SENT.
        labelId: "INBOX",
        maxResults: 500,
        ...(pageToken ? { pageToken } : {}),
      });
      for (const record of data.history ?? []) {
        for (const added of record.messagesAdded ?? []) {
          if (added.message?.id && !ids.includes(added.message.id)) {
            ids.push(added.message.id);
          }
        }
      }
      latest = data.historyId ?? latest;
      pageToken = data.nextPageToken ?? undefined;
    } catch (error) {
      if ((error as { status?: number }).status === 404) {
        return undefined;
      }
      throw error;
    }
  } while (pageToken);
  return { ids, latest };
}

/**
 * Processes the changes of one connected mailbox once at a time (a lock per mailbox); see the module
 * comment. The address routes the notification to the one connection that has it; an address no
 * workspace has connected is ignored.
 */
export async function syncMailbox(address: string, log: Logger): Promise<SyncResult | "busy"> {
  const result: SyncResult = {
    mailbox: address,
    processed: 0,
    replies: 0,
    bounces: 0,
    unsubscribes: 0,
    full_sync: false,
    history_id: null,
  };
  const connection = await connectionForEmail(address);
  if (connection?.status !== "active") {
    return result;
  }
  const mailbox = await mailboxOfConnection(connection);
  result.history_id = mailbox.history_id;
  const lock = await tryLock(`mailbox-sync:${mailbox.id}`, 120_000);
  if (!lock) {
    return "busy";
  }
  try {
    return await withGoogle(connection, async (auth) => {
      const api = gmailApi(auth);
      let ids: string[];
      let latest: string;
      const since = mailbox.history_id ? await historySince(api, mailbox.history_id) : undefined;
      if (since) {
        ({ ids, latest } = since);
      } else {
        // No cursor yet, or Gmail no longer has that history: recent messages, then a fresh cursor.
        result.full_sync = true;
        const profile = await api.users.getProfile({ userId: "me" });
        latest = profile.data.historyId ?? "0";
        const recent = await api.users.messages.list({
          userId: "me",
          q: "newer_than:7d -in:sent",
          maxResults: 500,
        });
        ids = (recent.data.messages ?? []).flatMap((m) => (m.id ? [m.id] : []));
      }
      for (const id of ids) {
        const outcome = await handleMessage(mailbox, api, id, log);
        result.processed += 1;
        result.replies += outcome === "reply" ? 1 : 0;
        result.bounces += outcome === "bounce" ? 1 : 0;
        result.unsubscribes += outcome === "unsubscribe" ? 1 : 0;
      }
      // Forward only: a late or replayed notification never moves the cursor back.
      result.history_id = await advanceHistory(mailbox.id, latest);
      return result;
    });
  } finally {
    await lock.release();
  }
}
