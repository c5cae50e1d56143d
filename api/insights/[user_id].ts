// GET /api/insights/{user_id} – Product insights of the caller's workspaces, newest first; session required (workspace_id filters)

import { insightsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(insightsResource);
