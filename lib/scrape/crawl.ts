import type { Browser } from "playwright-core";
import { getConfig } from "../config";
import type { Logger } from "../log";
import { assertPublicUrl, BlockedAddressError } from "./address-guard";
import { allowedHosts } from "./allow";
import { domainBackoffUntil, recordDomainFailure } from "./backoff";
import type { SiteSession } from "./browser";
import { extractContacts } from "./contacts";
import { createGuardedFetcher, FetchLimitError, type GuardedFetcher } from "./fetch";
import type { SiteJob } from "./jobs";
import { contactLinks } from "./links";
import { pageContent } from "./markdown";
import { cachedPage, pageReport, savePage } from "./pages";
import { waitForTurn } from "./politeness";
import type { Deferral, PageReport, SiteReport } from "./report";
import { type RequestPolicy, requestPolicy } from "./request-policy";
import { type RobotsVerdict, userAgent } from "./robots";
import { robotsFor } from "./robots-fetch";
import { normalizeUrl, siteOf } from "./url";
import { TransientScrapeError, type Visit, visit } from "./visit";

// The report's shape is the worker's declared answer (./report), which the webhook parses.
export type { Deferral, PageReport, SiteReport };
export { TransientScrapeError };

export interface CrawlOptions {
  log: Logger;
  /** After this instant no new page is started; the job is put off and resumes from the cache. */
  deadlineAt: number;
  launch: () => Promise<Browser>;
  openSession: (
    browser: Browser,
    fetcher: GuardedFetcher,
    userAgent: string,
    policy: RequestPolicy,
  ) => Promise<SiteSession>;
}

/**
 * Crawls one site for a task: the start pages and up to `max_pages` pages in all, contact pages
 * first; robots.txt obeyed; one request at a time per domain with the politeness gap; pages within
 * their TTL read from the cache; a domain answering 429/503 or timing out is backed off and the job
 * put off. Transient failures throw TransientScrapeError so QStash retries the job.
 */
export async function crawlSite(job: SiteJob, options: CrawlOptions): Promise<SiteReport | Deferral> {
  const config = getConfig();
  const domain = siteOf(job.start_urls[0] ?? `http://${job.site}`);
  const backedOff = await domainBackoffUntil(domain);
  if (backedOff) {
    return {
      outcome: "deferred",
      site: job.site,
      until: backedOff.toISOString(),
      reason: "domain in backoff",
    };
  }

  const allow = allowedHosts();
  const agent = userAgent(config.APP_URL);
  const report: SiteReport = {
    outcome: "done",
    site: job.site,
    status: "failed",
    reason: null,
    pages: [],
    blocked: [],
    refused: [],
    refused_counts: {},
    visits: [],
    crawl_delay_seconds: null,
  };
  const queue = [...job.start_urls];
  const seen = new Set<string>();
  let fetcher: GuardedFetcher | undefined;
  let browser: Browser | undefined;
  let session: SiteSession | undefined;
  let opening: Promise<SiteSession> | undefined;
  const robotsByOrigin = new Map<string, RobotsVerdict>();
  let crawlDelay: number | undefined;

  /** What page scripts may make the crawler fetch (request-policy.ts), with this crawl's robots and turns. */
  const policyFor = (guarded: GuardedFetcher): RequestPolicy =>
    requestPolicy({
      site: job.site,
      perPage: scriptRequestsPerPage,
      robotsFor: async (origin, own) => {
        const known = robotsByOrigin.get(origin);
        if (known) {
          return known;
        }
        const thirdParty = siteOf(origin);
        // On the site the visit already holds its turn; another host's robots.txt takes one of its own.
        const turn = own
          ? async () => async () => undefined
          : async () => {
              const granted = await waitForTurn(thirdParty, {
                minGapMs: config.SCRAPE_MIN_GAP_MS,
                maxGapMs: config.SCRAPE_MAX_GAP_MS,
                leaseMs: config.SCRAPE_PAGE_TIMEOUT_MS + 10_000,
                waitMs: 3000,
              });
              if (!granted) {
                throw new DomainBusy();
              }
              return async () => granted.done();
            };
        const read = await robotsFor(origin, guarded, turn).catch(() => undefined);
        if (read?.available) {
          robotsByOrigin.set(origin, read);
          return read;
        }
        return undefined;
      },
      turn: async (origin) => {
        const granted = await waitForTurn(siteOf(origin), {
          minGapMs: config.SCRAPE_MIN_GAP_MS,
          maxGapMs: config.SCRAPE_MAX_GAP_MS,
          crawlDelaySeconds: robotsByOrigin.get(origin)?.crawlDelaySeconds,
          leaseMs: config.SCRAPE_PAGE_TIMEOUT_MS + 10_000,
          waitMs: 3000,
        });
        return granted ? async () => granted.done() : undefined;
      },
    });

  const takeTurn = async () => {
    const turn = await waitForTurn(domain, {
      minGapMs: config.SCRAPE_MIN_GAP_MS,
      maxGapMs: config.SCRAPE_MAX_GAP_MS,
      crawlDelaySeconds: crawlDelay,
      leaseMs: config.SCRAPE_PAGE_TIMEOUT_MS * 2 + 30_000,
      waitMs: 30_000,
    });
    if (!turn) {
      throw new DomainBusy();
    }
    return async () => turn.done();
  };

  try {
    while (queue.length > 0 && report.pages.length < job.max_pages) {
      const url = queue.shift() as string;
      const key = normalizeUrl(url);
      if (seen.has(key)) {
        continue;
      }
      seen.add(key);

      const cached = await cachedPage(key);
      if (cached) {
        report.pages.push(pageReport(url, cached, true));
        if (cached.status === "completed" && report.pages.length === 1) {
          queue.push(...contactLinks(cached.links as { url: string; text: string }[], job.site));
        }
        continue;
      }

      try {
        await assertPublicUrl(url, { allow });
      } catch (error) {
        if (!(error instanceof BlockedAddressError)) {
          throw error;
        }
        report.blocked.push({ url, reason: error.reason });
        report.pages.push(
          pageReport(
            url,
            await savePage({
              url,
              taskId: job.task_id,
              status: "failed",
              error: `blocked: ${error.reason}`,
              ttlSeconds: config.SCRAPE_CACHE_TTL_SECONDS,
            }),
            false,
          ),
        );
        continue;
      }

      fetcher ??= createGuardedFetcher({
        userAgent: agent,
        maxBytes: config.SCRAPE_MAX_BYTES,
        timeoutMs: config.SCRAPE_PAGE_TIMEOUT_MS,
        allow,
      });
      const origin = new URL(url).origin;
      let robots = robotsByOrigin.get(origin);
      if (!robots) {
        const read = await robotsFor(origin, fetcher, takeTurn);
        if (!read.available) {
          const reason =
            read.status === null ? "robots.txt could not be fetched" : `robots.txt answered ${read.status}`;
          const until = await recordDomainFailure(domain, {
            status: read.status,
            retryAfterSeconds: read.retryAfterSeconds,
            reason,
          });
          return deferUntil(job, until, reason);
        }
        robots = read;
        robotsByOrigin.set(origin, robots);
        crawlDelay = robots.crawlDelaySeconds;
        report.crawl_delay_seconds = crawlDelay ?? null;
      }
      if (!robots.allowed(url)) {
        const row = await savePage({
          url,
          taskId: job.task_id,
          status: "skipped",
          error: "disallowed by robots.txt",
          ttlSeconds: config.SCRAPE_CACHE_TTL_SECONDS,
        });
        report.pages.push(pageReport(url, row, false));
        continue;
      }

      if (Date.now() > options.deadlineAt) {
        return deferFor(job, 5, "time budget of this run used up");
      }
      // The browser starts while the turn's gap runs down.
      opening ??= options.launch().then(async (launched) => {
        browser = launched;
        return options.openSession(
          launched,
          fetcher as GuardedFetcher,
          agent,
          policyFor(fetcher as GuardedFetcher),
        );
      });
      const [release, opened] = await Promise.all([takeTurn(), opening]);
      session = opened;
      // Another worker may have fetched the page while this one waited for the domain.
      const fetchedMeanwhile = await cachedPage(key);
      if (fetchedMeanwhile) {
        await release();
        report.pages.push(pageReport(url, fetchedMeanwhile, true));
        continue;
      }
      const startedAt = Date.now();
      const requestsBefore = session.requests.length;
      session.beginPage();
      let result: Visit;
      try {
        result = await visit(session, url, config.SCRAPE_PAGE_TIMEOUT_MS);
      } finally {
        await release();
      }
      const endedAt = Date.now();
      report.visits.push({ url, started_at: startedAt, ended_at: endedAt });
      for (const request of session.requests.slice(requestsBefore)) {
        if (request.outcome === "blocked_address") {
          report.blocked.push({ url: request.url, reason: request.reason ?? "blocked" });
        }
        if (request.outcome === "refused" && request.refusal) {
          report.refused_counts[request.refusal] = (report.refused_counts[request.refusal] ?? 0) + 1;
          if (report.refused.length < 50) {
            report.refused.push({ url: request.url.slice(0, 500), reason: request.refusal });
          }
        }
      }
      options.log.info({ domain, url, startedAt, endedAt, outcome: result.kind }, "scrape request");

      if (result.kind === "backoff") {
        const until = await recordDomainFailure(domain, {
          status: result.status,
          retryAfterSeconds: result.retryAfterSeconds,
          reason: result.reason,
        });
        return deferUntil(job, until, result.reason);
      }
      if (result.kind === "transient") {
        throw new TransientScrapeError(`${url}: ${result.reason}`);
      }
      if (result.kind === "permanent") {
        const row = await savePage({
          url,
          taskId: job.task_id,
          status: result.skipped ? "skipped" : "failed",
          httpStatus: result.status,
          error: result.reason,
          ttlSeconds: config.SCRAPE_CACHE_TTL_SECONDS,
        });
        report.pages.push(pageReport(url, row, false));
        continue;
      }

      const content = pageContent(result.html, result.finalUrl);
      const row = await savePage({
        url,
        taskId: job.task_id,
        status: "completed",
        httpStatus: result.status,
        finalUrl: result.finalUrl,
        title: content.title,
        markdown: content.markdown.slice(0, 200_000),
        links: content.links.slice(0, 500),
        jsonLd: content.jsonLd,
        contacts: extractContacts(result.html, result.finalUrl),
        bytes: result.bytes,
        timings: { ...result.timings, held_domain_ms: endedAt - startedAt },
        ttlSeconds: config.SCRAPE_CACHE_TTL_SECONDS,
      });
      report.pages.push(pageReport(url, row, false));
      if (report.pages.filter((page) => page.status === "completed").length === 1) {
        queue.push(...contactLinks(content.links, job.site));
      }
    }
  } catch (error) {
    if (error instanceof DomainBusy) {
      return deferFor(job, 15, "another worker holds the domain");
    }
    if (error instanceof BlockedAddressError) {
      report.blocked.push({ url: error.url, reason: error.reason });
    } else if (error instanceof FetchLimitError) {
      throw new TransientScrapeError(error.message);
    } else {
      throw error;
    }
  } finally {
    // A launch still under way when the crawl ended is waited for, so no Chromium outlives the job.
    const opened = await opening?.catch(() => undefined);
    await opened?.close().catch(() => undefined);
    await (browser as Browser | undefined)?.close().catch(() => undefined);
    await fetcher?.close().catch(() => undefined);
  }

  const completed = report.pages.filter((page) => page.status === "completed").length;
  report.status = completed > 0 ? "completed" : "failed";
  if (completed === 0) {
    report.reason =
      report.pages[0]?.reason ?? report.blocked[0]?.reason ?? "no page of the site could be read";
  }
  return report;
}

class DomainBusy extends Error {}

/** Requests a page's scripts may have the crawler make (own origin and third-party scripts together). */
const scriptRequestsPerPage = 12;

function deferFor(job: SiteJob, seconds: number, reason: string): Deferral {
  return deferUntil(job, new Date(Date.now() + seconds * 1000), reason);
}

function deferUntil(job: SiteJob, until: Date, reason: string): Deferral {
  return { outcome: "deferred", site: job.site, until: until.toISOString(), reason };
}
