// POST /api/cron/scrape-maintenance – hourly QStash schedule: bounds the page cache, forgets old backoffs, finishes lead-generation tasks stuck on a silent site
import { json, route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";
import { runScrapeMaintenance } from "../../lib/scrape/maintenance";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/cron/scrape-maintenance", {
  POST: withQStash(async () => json({ success: true, data: await runScrapeMaintenance() })),
});
