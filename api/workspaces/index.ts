// GET /api/workspaces – the caller's workspaces with their role; POST – a new workspace, the caller its owner
import { withUser } from "../../lib/auth/session";
import { route } from "../../lib/http/handler";
import { create, listMine } from "../../lib/workspaces/api";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/workspaces", {
  GET: withUser(listMine),
  POST: withUser(create),
});
