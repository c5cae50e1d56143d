// POST /api/workspaces/{workspace_id}/mailboxes/{mailbox_id}/resume – ends a mailbox's pause (owners and admins)
import { withUser } from "../../../../../lib/auth/session";
import { resumeMailboxHandler } from "../../../../../lib/email/mailbox-admin";
import { route } from "../../../../../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route(
  "/api/workspaces/:workspace_id/mailboxes/:mailbox_id/resume",
  { POST: withUser(resumeMailboxHandler) },
);
