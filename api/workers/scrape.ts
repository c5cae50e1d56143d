// POST /api/workers/scrape – crawls one site of a lead-generation task in headless Chromium; delivered and signed by QStash
import { route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";
import { runScrapeJob } from "../../lib/scrape/worker";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/workers/scrape", {
  POST: withQStash(runScrapeJob),
});
