// POST /api/workspaces/{workspace_id}/invitations – invite an address (owners and admins); the token goes out by email
import { withUser } from "../../../lib/auth/session";
import { route } from "../../../lib/http/handler";
import { inviteMember } from "../../../lib/workspaces/api";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/workspaces/:workspace_id/invitations", {
  POST: withUser(inviteMember),
});
