// GET /api/google/connections?workspace_id=… – the workspace's connected Google accounts and their status (never a token)
import { withUser } from "../../../lib/auth/session";
import { route } from "../../../lib/http/handler";
import { connections } from "../../../lib/workspaces/api";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/google/connections", {
  GET: withUser(connections),
});
