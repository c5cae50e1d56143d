// POST /webhook/scrape – QStash callbacks and failure callbacks of the scrape worker; verified, deduplicated, advance the lead-generation task
import { route } from "../../lib/http/handler";
import { handleScrapeWebhook } from "../../lib/webhooks/scrape-events";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/webhook/scrape", {
  POST: handleScrapeWebhook,
});
