// POST /api/workers/agent – runs a queued agent task; delivered and signed by QStash
import { runAgentJob } from "../../lib/agents/worker";
import { route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/workers/agent", {
  POST: withQStash(runAgentJob),
});
