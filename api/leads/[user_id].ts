// GET /api/leads/{user_id} – Leads of the caller's workspaces, highest score first; session required; the rows of the workspaces the caller is in (workspace_id filters)

import { leadsResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(leadsResource);
