import robotsParser from "robots-parser";

/** The product token robots.txt rules are matched against. */
export const robotsToken = "AIAgentTeamBot";

/** Our User-Agent: it names the product and where a site owner can read about the crawler. */
export function userAgent(appUrl: string): string {
  return `Mozilla/5.0 (compatible; ${robotsToken}/0.1; +${new URL("/bot", appUrl).toString()})`;
}

export interface RobotsRules {
  allowed(url: string): boolean;
  /** Seconds between requests the site asks of us, if it asks. */
  crawlDelaySeconds: number | undefined;
}

/**
 * robots.txt as it applies to our own token (falling back to `*`). A missing file (404) allows
 * everything; an unreachable one (5xx) is treated as a disallow, as Google does.
 */
export function parseRobots(robotsUrl: string, status: number, body: string): RobotsRules {
  if (status >= 500) {
    return { allowed: () => false, crawlDelaySeconds: undefined };
  }
  if (status >= 400) {
    return { allowed: () => true, crawlDelaySeconds: undefined };
  }
  const robots = robotsParser(robotsUrl, body);
  return {
    allowed: (url) => robots.isAllowed(url, robotsToken) !== false,
    crawlDelaySeconds: robots.getCrawlDelay(robotsToken),
  };
}
