// PUT /api/workspaces/{workspace_id}/campaigns/{campaign_id}/mailboxes – the mailboxes a campaign's first emails rotate between (owners and admins)
import { withUser } from "../../../../../lib/auth/session";
import { campaignMailboxesHandler } from "../../../../../lib/email/mailbox-admin";
import { route } from "../../../../../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route(
  "/api/workspaces/:workspace_id/campaigns/:campaign_id/mailboxes",
  { PUT: withUser(campaignMailboxesHandler) },
);
