import type { RequestContext } from "../http/handler";
import { reply } from "../http/responses";
import { readQStashCallback } from "../queue";
import { scrapeWebhookPath, siteJob } from "../scrape/jobs";
import { scrapeWorkerAnswer } from "../scrape/report";
import { dispatchFinish } from "../tasks/dispatch";
import { recordSiteReport } from "../tasks/store";
import { processOnce } from "./dedupe";
import { callbackAnswer } from "./responses";

/**
 * `POST /webhook/scrape`: QStash's callback (after each attempt) and failure callback (every retry
 * failed) for one site's scrape; an attempt that will be retried changes nothing. Verified and applied once per message; the site's report is put on
 * the task, and the report that leaves no site pending publishes the task's finish. A deferred
 * answer changes nothing: the job was published again and its own callback will come.
 */
export async function handleScrapeWebhook(ctx: RequestContext): Promise<Response> {
  const callback = await readQStashCallback(ctx, scrapeWebhookPath);
  const job = siteJob.safeParse(callback.source);
  if (!job.success) {
    return reply(callbackAnswer, { success: true, data: { outcome: "ignored" } });
  }
  if (callback.kind === "retrying") {
    // QStash delivers the job again; only the last attempt's failure fails the site.
    return reply(callbackAnswer, { success: true, data: { outcome: "attempt_will_be_retried" } });
  }
  const { task_id: taskId, site, user_id: userId } = job.data;
  const outcome = await processOnce(
    {
      source: "scrape",
      eventId: `${callback.sourceMessageId}:${callback.failed ? "failure" : "callback"}`,
      eventType: callback.failed ? "scrape.failed" : "scrape.reported",
      payload: { task_id: taskId, site, status: callback.status, retried: callback.retried },
      userId,
    },
    async () => {
      let progress: Awaited<ReturnType<typeof recordSiteReport>>;
      if (callback.failed) {
        progress = await recordSiteReport(taskId, site, {
          status: "failed",
          reason: `the site could not be read after ${callback.retried + 1} attempts (last status ${callback.status})`,
        });
      } else {
        const answer = scrapeWorkerAnswer.safeParse(callback.response);
        if (!answer.success || answer.data.data.outcome !== "done") {
          return "ignored";
        }
        const report = answer.data.data;
        progress = await recordSiteReport(taskId, site, {
          status: report.status,
          pages: report.pages.map((page) => page.url_key),
          // Pages not read, with why (robots.txt, blocked, not found…): reported, never retried.
          not_read: report.pages
            .filter((page) => page.status !== "completed")
            .map((page) => ({ url: page.url, reason: page.reason ?? page.status })),
          reason: report.reason,
          blocked: report.blocked.length,
          refused: report.refused_counts,
        });
      }
      if (!progress) {
        return "ignored";
      }
      if (progress.pending === 0) {
        await dispatchFinish(taskId);
      }
      return "processed";
    },
  );
  return reply(callbackAnswer, { success: true, data: { outcome } });
}
