// PATCH /api/workspaces/{workspace_id}/members/{user_id} – change a role; DELETE – remove a member, or leave (one's own id)
import { withUser } from "../../../../lib/auth/session";
import { route } from "../../../../lib/http/handler";
import { remove, setRole } from "../../../../lib/workspaces/api";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route(
  "/api/workspaces/:workspace_id/members/:user_id",
  { PATCH: withUser(setRole), DELETE: withUser(remove) },
);
