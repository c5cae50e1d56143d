import type { Page } from "playwright-core";
import { parseRetryAfter } from "./backoff";
import type { RequestRecord, SiteSession } from "./browser";

/** A failure QStash should retry (the worker answers 5xx). */
export class TransientScrapeError extends Error {
  override name = "TransientScrapeError";
}

export type Visit =
  | {
      kind: "page";
      finalUrl: string;
      status: number;
      html: string;
      bytes: number;
      timings: Record<string, number>;
    }
  | { kind: "permanent"; status: number | null; reason: string; skipped?: boolean }
  | { kind: "backoff"; status: number | null; retryAfterSeconds?: number | undefined; reason: string }
  | { kind: "transient"; reason: string };

const maxRedirects = 5;

function failedNavigation(record: RequestRecord | undefined, url: string): Visit {
  switch (record?.outcome) {
    case "blocked_address":
      return { kind: "permanent", status: null, reason: `blocked: ${record.reason ?? url}` };
    case "too_large":
      return { kind: "permanent", status: null, reason: "the page is larger than the size cap" };
    case "timeout":
      return { kind: "backoff", status: null, reason: "the page timed out" };
    case "refused":
      return {
        kind: "permanent",
        status: null,
        reason: `not fetched: ${record.reason ?? "refused"}`,
        skipped: true,
      };
    case "error":
      return { kind: "transient", reason: record.reason ?? "network error" };
    default:
      return { kind: "backoff", status: null, reason: "the page did not load in time" };
  }
}

/** Content of the page as it stands; a navigation racing the read gets one more try. */
async function contentOf(page: Page): Promise<string | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return await page.content();
    } catch {
      await page.waitForLoadState("domcontentloaded", { timeout: 1000 }).catch(() => undefined);
    }
  }
  return undefined;
}

/** The browser died under the crawl: not the site's fault, so no backoff; QStash runs the job again. */
function browserGone(session: SiteSession): boolean {
  return !session.context.browser()?.isConnected();
}

/** Loads one page in the browser, following redirects itself so each hop is routed and checked. */
export async function visit(session: SiteSession, url: string, timeoutMs: number): Promise<Visit> {
  const page = await session.context.newPage().catch((error: Error) => {
    throw new TransientScrapeError(`the browser is gone: ${error.message}`);
  });
  const started = Date.now();
  try {
    // As the browser will name the request: serialised, without the fragment.
    const asRequested = (value: string) => {
      const parsed = new URL(value);
      parsed.hash = "";
      return parsed.href;
    };
    let target = asRequested(url);
    for (let hop = 0; ; hop++) {
      const before = session.requests.length;
      const navigation = () =>
        session.requests
          .slice(before)
          .find((request) => request.type === "document" && request.url === target);
      let loaded = true;
      try {
        await page.goto(target, { waitUntil: "domcontentloaded", timeout: timeoutMs + 5000 });
      } catch {
        if (browserGone(session)) {
          throw new TransientScrapeError(`the browser crashed while loading ${target}`);
        }
        // A page can interrupt its own load (a script navigating at once); what was fetched counts.
        loaded = false;
      }
      const record = navigation();
      if (record?.outcome === "redirect" && record.location) {
        if (hop >= maxRedirects) {
          return { kind: "permanent", status: record.status, reason: `more than ${maxRedirects} redirects` };
        }
        target = asRequested(record.location);
        continue;
      }
      if (record?.outcome !== "fetched" || record.status === null) {
        return failedNavigation(record, target);
      }
      if (!loaded) {
        await page.waitForLoadState("domcontentloaded", { timeout: 2000 }).catch(() => undefined);
      }
      const status = record.status;
      if (status === 429 || status === 503) {
        return {
          kind: "backoff",
          status,
          retryAfterSeconds: parseRetryAfter(record.retryAfter),
          reason: `the site answered ${status}`,
        };
      }
      if (status >= 500) {
        return { kind: "transient", reason: `the site answered ${status}` };
      }
      if (status >= 400) {
        return { kind: "permanent", status, reason: `the site answered ${status}` };
      }
      const type = record.contentType ?? "";
      if (!/text\/html|application\/xhtml\+xml/i.test(type)) {
        return {
          kind: "permanent",
          status,
          reason: `unsupported content (${type.split(";")[0] || "unknown"})`,
          skipped: true,
        };
      }
      // Read the page as soon as it is parsed: a script may navigate away (the guard stops it, and
      // the browser then shows its error page). Then give client-side rendering a moment.
      const finalUrl = target;
      let html = page.url() === finalUrl ? ((await contentOf(page)) ?? "") : "";
      if (page.url() !== finalUrl || !html) {
        html = record.document ?? html;
      }
      await page.waitForLoadState("load", { timeout: 3000 }).catch(() => undefined);
      await session.settled();
      if (page.url() === finalUrl) {
        const rendered = await contentOf(page);
        if (rendered && rendered.length >= html.length) {
          html = rendered;
        }
      }
      return {
        kind: "page",
        finalUrl,
        status,
        html,
        bytes: Buffer.byteLength(html),
        timings: { load_ms: Date.now() - started, redirects: hop },
      };
    }
  } finally {
    await page.close().catch(() => undefined);
  }
}
