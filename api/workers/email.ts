// POST /api/workers/email – sends one queued email through Gmail (or the outbox), paced and at most once; delivered and signed by QStash
import { runEmailJob } from "../../lib/email/worker";
import { route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/workers/email", {
  POST: withQStash(runEmailJob),
});
