// GET /api/campaigns/{user_id} – The caller's campaigns, newest first; session required, own rows only

import { campaignsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(campaignsResource);
