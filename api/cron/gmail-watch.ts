// POST /api/cron/gmail-watch – daily QStash schedule: renews Gmail's users.watch for the sending mailbox; a failure alerts
import { renewGmailWatch } from "../../lib/email/watch";
import { json, route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/cron/gmail-watch", {
  POST: withQStash(async () => json({ success: true, data: await renewGmailWatch() })),
});
