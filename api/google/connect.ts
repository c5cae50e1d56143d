// GET /api/google/connect?workspace_id=… – Google's consent screen for an owner or admin (authorization code, PKCE, offline)
import { withUser } from "../../lib/auth/session";
import { route } from "../../lib/http/handler";
import { connect } from "../../lib/workspaces/api";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/google/connect", {
  GET: withUser(connect),
});
