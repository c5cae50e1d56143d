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

/** The page our User-Agent points site owners to: who crawls, how, and how to opt out. */
export function botPage(): string {
  return `# ${robotsToken}

${robotsToken} is the lead-generation crawler of AI Agent Team, run for one business at a time on
sites its user named. It reads a site's start page and at most a few contact, team and about
pages, to find published business contacts.

- It obeys robots.txt for the token \`${robotsToken}\` (or \`*\`), Crawl-delay included.
- One request at a time per site, two to five seconds apart (longer if Crawl-delay asks).
- A 429 or 503 backs it off, for at least as long as Retry-After says.
- A page it read is not fetched again for 24 hours. Images, fonts and media are not fetched.

To keep it out, add to robots.txt:

    User-agent: ${robotsToken}
    Disallow: /
`;
}
