// GET /api/workspaces/{workspace_id}/mailboxes – the workspace's sending mailboxes: caps, pauses and why, bounce rate
import { withUser } from "../../../../lib/auth/session";
import { listHandler } from "../../../../lib/email/mailbox-admin";
import { route } from "../../../../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/workspaces/:workspace_id/mailboxes", {
  GET: withUser(listHandler),
});
