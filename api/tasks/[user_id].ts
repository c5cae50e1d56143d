// GET /api/tasks/{user_id} – Agent tasks of the caller's workspaces, newest first; session required; the rows of the workspaces the caller is in (workspace_id filters)

import { tasksResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(tasksResource);
