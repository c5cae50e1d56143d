// GET /api/workspaces/{workspace_id} – one of the caller's workspaces; PATCH – its settings (owners and admins)
import { withUser } from "../../lib/auth/session";
import { route } from "../../lib/http/handler";
import { show, update } from "../../lib/workspaces/api";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/workspaces/:workspace_id", {
  GET: withUser(show),
  PATCH: withUser(update),
});
