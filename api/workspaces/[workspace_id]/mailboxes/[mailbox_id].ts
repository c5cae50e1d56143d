// PATCH /api/workspaces/{workspace_id}/mailboxes/{mailbox_id} – a mailbox's caps and ramp (owners and admins)
import { withUser } from "../../../../lib/auth/session";
import { updateMailboxHandler } from "../../../../lib/email/mailbox-admin";
import { route } from "../../../../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route(
  "/api/workspaces/:workspace_id/mailboxes/:mailbox_id",
  { PATCH: withUser(updateMailboxHandler) },
);
