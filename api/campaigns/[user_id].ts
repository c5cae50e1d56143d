// GET /api/campaigns/{user_id} – Campaigns of the caller's workspaces, newest first; session required (workspace_id filters)

import { campaignsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(campaignsResource);
