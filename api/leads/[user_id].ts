// GET /api/leads/{user_id} – The caller's leads, highest score first; session required, own rows only

import { leadsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(leadsResource);
