// POST /api/workspaces/{workspace_id}/campaigns/{campaign_id}/resume – sets a paused campaign going again (owners and admins)
import { withUser } from "../../../../../lib/auth/session";
import { resumeCampaignHandler } from "../../../../../lib/email/mailbox-admin";
import { route } from "../../../../../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route(
  "/api/workspaces/:workspace_id/campaigns/:campaign_id/resume",
  { POST: withUser(resumeCampaignHandler) },
);
