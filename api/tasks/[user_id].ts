// GET /api/tasks/{user_id} – Agent tasks of the caller's workspaces, newest first; session required (workspace_id filters)

import { tasksResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(tasksResource);
