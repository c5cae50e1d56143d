// GET /api/tasks/{user_id} – The caller's agent tasks, newest first; session required, own rows only

import { tasksResource } from "../../lib/queries/resources";
import { listRoute } from "../../lib/queries/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = listRoute(tasksResource);
