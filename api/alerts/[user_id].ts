// GET /api/alerts/{user_id} – The caller's alerts, newest first; session required, own rows only

import { alertsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(alertsResource);
