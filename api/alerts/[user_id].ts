// GET /api/alerts/{user_id} – The caller's own alerts in every workspace they are in, newest first; session required (workspace_id filters)

import { alertsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(alertsResource);
