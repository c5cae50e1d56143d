// POST /api/workspaces/{workspace_id}/mailboxes/{mailbox_id}/pause – pauses a mailbox, with the reason, until a time or until resumed (owners and admins)
import { withUser } from "../../../../../lib/auth/session";
import { pauseMailboxHandler } from "../../../../../lib/email/mailbox-admin";
import { route } from "../../../../../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route(
  "/api/workspaces/:workspace_id/mailboxes/:mailbox_id/pause",
  { POST: withUser(pauseMailboxHandler) },
);
