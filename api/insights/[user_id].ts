// GET /api/insights/{user_id} – The caller's product insights, newest first; session required, own rows only

import { insightsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(insightsResource);
