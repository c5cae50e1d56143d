// POST /webhook/task – task events signed in the Standard Webhooks format (database triggers,
// other senders) and QStash callbacks of background runs; verified, deduplicated, applied once
import { route } from "../../lib/http/handler";
import { handleTaskWebhook } from "../../lib/webhooks/task-events";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/webhook/task", {
  POST: handleTaskWebhook,
});
