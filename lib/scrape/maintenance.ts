import { lt } from "drizzle-orm";
import { domainBackoff, scrapes } from "../db/schema";
import { serviceDb } from "../db/service";
import { dispatchFinish } from "../tasks/dispatch";
import { sitesOf } from "../tasks/metadata";
import { recordSiteReport, stuckFanOuts } from "../tasks/store";

/** Cached pages are kept this long past their expiry (a slow task may still finish from them). */
const keepExpiredDays = 7;
/** A backoff ended this long ago is forgotten, so the domain's failure streak starts again. */
const forgetBackoffHours = 24;
/** A lead-generation task whose sites have not all reported after this long is finished without them. */
export const siteReportDeadlineHours = 48;

export interface MaintenanceResult {
  deleted_pages: number;
  forgotten_backoffs: number;
  finished_tasks: string[];
}

/**
 * Hourly: bounds the page cache, forgets old backoffs, and finishes lead-generation tasks stuck on a
 * site that never reported (a job lost beyond QStash's retries) with what the other sites gave.
 */
export async function runScrapeMaintenance(now = new Date()): Promise<MaintenanceResult> {
  const db = await serviceDb();
  const pages = await db
    .delete(scrapes)
    .where(lt(scrapes.expires_at, new Date(now.getTime() - keepExpiredDays * 86_400_000).toISOString()))
    .returning({ id: scrapes.id });
  const backoffs = await db
    .delete(domainBackoff)
    .where(
      lt(domainBackoff.backoff_until, new Date(now.getTime() - forgetBackoffHours * 3_600_000).toISOString()),
    )
    .returning({ domain: domainBackoff.domain });

  const stuck = await stuckFanOuts(
    "leadgen-scraper",
    new Date(now.getTime() - siteReportDeadlineHours * 3_600_000),
  );
  const finished: string[] = [];
  for (const task of stuck) {
    let pending: number | undefined;
    for (const [site, state] of Object.entries(sitesOf(task.metadata))) {
      if (state.status === "pending") {
        const progress = await recordSiteReport(task.id, site, {
          status: "failed",
          reason: `no report within ${siteReportDeadlineHours} hours`,
        });
        pending = progress?.pending ?? pending;
      }
    }
    if (pending === 0) {
      await dispatchFinish(task.id);
      finished.push(task.id);
    }
  }
  return { deleted_pages: pages.length, forgotten_backoffs: backoffs.length, finished_tasks: finished };
}
