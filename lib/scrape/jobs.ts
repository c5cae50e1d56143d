import { createHash } from "node:crypto";
import { z } from "zod";
import { publishJob } from "../queue";

/** One QStash job: one site of a lead-generation task. */
export const siteJob = z.object({
  task_id: z.uuid(),
  user_id: z.uuid(),
  site: z.string().min(1).max(253),
  start_urls: z.array(z.url()).min(1).max(10),
  max_pages: z.int().min(1).max(10),
  /** How often the job has been put off for a backed-off or busy domain. */
  deferrals: z.int().min(0).max(50).default(0),
});
export type SiteJob = z.infer<typeof siteJob>;

export const scrapeWorkerPath = "/api/workers/scrape";
export const scrapeWebhookPath = "/webhook/scrape";
/** Deliveries QStash makes after the first when the worker answers 5xx. */
export const scrapeRetries = 3;
/** A site put off more often than this (backoff, busy domain) is reported as failed. */
export const maxDeferrals = 8;

/**
 * Publishes one site's scrape. The deduplication id names the task, the site and how often it was
 * put off, so a repeated publish of the same step is dropped by QStash while a deferral is a new job.
 */
export async function publishSiteJob(job: SiteJob, delaySeconds = 0): Promise<string> {
  const site = createHash("sha256").update(job.site).digest("hex").slice(0, 16);
  return publishJob(scrapeWorkerPath, job, {
    deduplicationId: `scrape-${job.task_id}-${site}-${job.deferrals}`,
    retries: scrapeRetries,
    callbackPath: scrapeWebhookPath,
    failureCallbackPath: scrapeWebhookPath,
    ...(delaySeconds > 0 ? { delaySeconds: Math.ceil(delaySeconds) } : {}),
  });
}
