// POST /api/cron/gmail-watch – daily QStash schedule: renews Gmail's users.watch for every connected mailbox; a failure alerts its workspace's admins
import { renewGmailWatch } from "../../lib/email/watch";
import { json, route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/cron/gmail-watch", {
  POST: withQStash(async (ctx) => json({ success: true, data: await renewGmailWatch(ctx.log) })),
});
