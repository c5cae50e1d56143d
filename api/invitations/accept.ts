// POST /api/invitations/accept – join a workspace with the invitation's token, signed in as the invited address
import { withUser } from "../../lib/auth/session";
import { route } from "../../lib/http/handler";
import { accept } from "../../lib/workspaces/api";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/invitations/accept", {
  POST: withUser(accept),
});
