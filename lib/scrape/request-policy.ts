import type { RobotsVerdict } from "./robots";
import { sameSite } from "./url";

/**
 * What a page's scripts may make the crawler fetch, so it is never a relay: only GET and HEAD; on
 * the site's own origin (www or not) anything robots.txt allows, up to a budget per page; off it,
 * only the scripts the page needs to render, each allowed by its own host's robots.txt and taking
 * a turn of that host's politeness. Navigations stay on the site. Everything else is refused, and
 * the crawl counts each refusal in its report.
 */
export type RefusalReason =
  | "method"
  | "off_site_navigation"
  | "third_party"
  | "robots"
  | "politeness"
  | "budget";

export interface PolicyRequest {
  url: string;
  method: string;
  /** Playwright's resource type: document, script, xhr, fetch, other… */
  type: string;
  /** A navigation of the page itself (the crawler's, or a script's `location` change). */
  mainFrameNavigation: boolean;
}

export type Decision =
  | {
      allowed: true /** Frees the third-party host's politeness turn once the request ended. */;
      release?: () => Promise<void>;
    }
  | { allowed: false; reason: RefusalReason };

export interface PolicyDeps {
  site: string;
  /** robots.txt rules for an origin; undefined when they cannot be read now (then nothing is fetched). */
  robotsFor(origin: string, sameSiteOrigin: boolean): Promise<RobotsVerdict | undefined>;
  /** A politeness turn of another origin's domain (its Crawl-delay too); undefined when none came in time. */
  turn(origin: string): Promise<(() => Promise<void>) | undefined>;
  /** Subresource requests a page may make (own and third-party together). */
  perPage: number;
}

export interface RequestPolicy {
  admit(request: PolicyRequest): Promise<Decision>;
  /** A new page starts: its budget is whole again. */
  beginPage(): void;
}

export function requestPolicy(deps: PolicyDeps): RequestPolicy {
  let used = 0;
  return {
    beginPage() {
      used = 0;
    },
    async admit(request) {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return { allowed: false, reason: "method" };
      }
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        return { allowed: false, reason: "third_party" };
      }
      const own = sameSite(url, `http://${deps.site}`);
      if (request.mainFrameNavigation) {
        if (!own) {
          return { allowed: false, reason: "off_site_navigation" };
        }
        const robots = await deps.robotsFor(url.origin, true);
        return robots?.allowed(url.href) ? { allowed: true } : { allowed: false, reason: "robots" };
      }
      if (!own && request.type !== "script") {
        return { allowed: false, reason: "third_party" };
      }
      if (used >= deps.perPage) {
        return { allowed: false, reason: "budget" };
      }
      const robots = await deps.robotsFor(url.origin, own);
      if (!robots?.allowed(url.href)) {
        return { allowed: false, reason: "robots" };
      }
      used += 1;
      if (own) {
        return { allowed: true };
      }
      const release = await deps.turn(url.origin);
      return release ? { allowed: true, release } : { allowed: false, reason: "politeness" };
    },
  };
}
