// GET /api/google/callback – Google's redirect back: state verified and used once, code exchanged, token sealed
import { route } from "../../lib/http/handler";
import { callback } from "../../lib/workspaces/api";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/google/callback", {
  GET: callback,
});
