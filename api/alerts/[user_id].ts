// GET /api/alerts/{user_id} – The caller's alerts, newest first; session required; the rows of the workspaces the caller is in (workspace_id filters)

import { alertsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(alertsResource);
