import { ApiError } from "../http/errors";
import type { RequestContext } from "../http/handler";
import { reply } from "../http/responses";
import { invalidJob, type QStashDelivery, readJob } from "../queue";
import { launchBrowser, openSiteSession } from "./browser";
import { crawlSite, type SiteReport, TransientScrapeError } from "./crawl";
import { maxDeferrals, publishSiteJob, siteJob } from "./jobs";
import { scrapeWorkerAnswer } from "./report";

/** What one invocation may spend before it puts the rest of the site off (the function has 300 s). */
const budgetMs = 200_000;

/**
 * `POST /api/workers/scrape`: crawls one site of a lead-generation task and answers with the site's
 * report, which QStash hands to /webhook/scrape. A backed-off or busy domain is put off (the job
 * is published again with a delay; this delivery is acknowledged as deferred). Transient failures
 * answer 503 so QStash retries; permanent ones are in the report and answered 200.
 */
export async function runScrapeJob(ctx: RequestContext & { delivery: QStashDelivery }): Promise<Response> {
  const job = await readJob(ctx, siteJob, "scrape");
  if (!job) {
    return invalidJob();
  }
  let outcome: Awaited<ReturnType<typeof crawlSite>>;
  try {
    outcome = await crawlSite(job, {
      log: ctx.log.child({ taskId: job.task_id, site: job.site }),
      deadlineAt: Date.now() + budgetMs,
      launch: launchBrowser,
      openSession: openSiteSession,
    });
  } catch (error) {
    if (error instanceof TransientScrapeError) {
      throw new ApiError("service_unavailable", error.message, { headers: { "retry-after": "30" } });
    }
    throw error;
  }
  if (outcome.outcome === "deferred") {
    if (job.deferrals >= maxDeferrals) {
      const gaveUp: SiteReport = {
        outcome: "done",
        site: job.site,
        status: "failed",
        reason: `put off ${job.deferrals} times (${outcome.reason}); try again later`,
        pages: [],
        blocked: [],
        refused: [],
        refused_counts: {},
        visits: [],
        crawl_delay_seconds: null,
      };
      return reply(scrapeWorkerAnswer, { success: true, data: gaveUp });
    }
    const delaySeconds = Math.max(1, (Date.parse(outcome.until) - Date.now()) / 1000);
    await publishSiteJob({ ...job, deferrals: job.deferrals + 1 }, delaySeconds);
    ctx.log.info({ site: job.site, until: outcome.until, reason: outcome.reason }, "scrape deferred");
  }
  return reply(scrapeWorkerAnswer, { success: true, data: outcome });
}
