// DELETE /api/google/connections/{connection_id} – disconnect (owners and admins): revoked at Google, channel and watch stopped
import { withUser } from "../../../lib/auth/session";
import { route } from "../../../lib/http/handler";
import { disconnectOne } from "../../../lib/workspaces/api";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/google/connections/:connection_id", {
  DELETE: withUser(disconnectOne),
});
