// GET /api/leads/{user_id} – Leads of the caller's workspaces, highest score first; session required (workspace_id filters)

import { leadsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(leadsResource);
