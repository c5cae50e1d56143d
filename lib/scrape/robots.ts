import robotsParser from "robots-parser";

/** The product token robots.txt rules are matched against. */
export const robotsToken = "AIAgentTeamBot";

/** Our User-Agent: it names the product and where a site owner can read about the crawler. */
export function userAgent(appUrl: string): string {
  return `Mozilla/5.0 (compatible; ${robotsToken}/0.1; +${new URL("/bot", appUrl).toString()})`;
}

export interface RobotsVerdict {
  available: true;
  allowed(url: string): boolean;
  /** Seconds between requests the site asks of us, if it asks. */
  crawlDelaySeconds: number | undefined;
}

export type RobotsRules =
  | RobotsVerdict
  | {
      /** robots.txt could not be read (429, 5xx, unreachable): nothing may be fetched yet. */
      available: false;
      status: number | null;
      retryAfterSeconds: number | undefined;
    };

/**
 * robots.txt as it applies to our own token (falling back to `*`). A missing file (4xx) allows
 * everything (RFC 9309 §2.3.1.3); a 5xx or no answer at all means complete disallow for now
 * (§2.3.1.4), and a 429 is read the same way, as Google's crawlers read it. The crawl turns "not
 * now" into a deferral with the domain's backoff, rather than a verdict on the site.
 */
export function parseRobots(
  robotsUrl: string,
  status: number | null,
  body: string,
  retryAfterSeconds?: number,
): RobotsRules {
  if (status === null || status === 429 || status >= 500) {
    return { available: false, status, retryAfterSeconds };
  }
  if (status >= 400) {
    return { available: true, allowed: () => true, crawlDelaySeconds: undefined };
  }
  // robots-parser matches paths well (longest match, `*` and `$`, percent-encoding) but picks
  // groups differently from RFC 9309; the group is chosen here and handed to it alone.
  const robots = robotsParser(robotsUrl, `User-agent: *\n${groupFor(body).join("\n")}\n`);
  return {
    available: true,
    allowed: (url) => robots.isAllowed(url, robotsToken) !== false,
    crawlDelaySeconds: robots.getCrawlDelay(robotsToken),
  };
}

const agentKeys = new Set(["user-agent", "useragent", "user agent"]);
// The misspellings Google's parser accepts for the rule lines, so a site that wrote one is obeyed.
const ruleKeys = new Map([
  ["allow", "Allow"],
  ["disallow", "Disallow"],
  ["dissallow", "Disallow"],
  ["dissalow", "Disallow"],
  ["disalow", "Disallow"],
  ["diasllow", "Disallow"],
  ["disallaw", "Disallow"],
]);

interface Group {
  agents: string[];
  lines: string[];
  /** A rule line was seen: the next user-agent line starts a new group. */
  closed: boolean;
}

/**
 * The rule lines that apply to us, chosen as RFC 9309 §2.2.1 says: every group naming our token
 * (its product token is the value up to the first character outside [A-Za-z_-], case-insensitive),
 * combined; else every `*` group, combined; else none. A matching group without rules is still
 * ours, so it allows everything instead of falling back to `*`. Only Allow and Disallow close a
 * group: a Sitemap or unknown line between user-agent lines does not (§2.1).
 */
function groupFor(body: string): string[] {
  const groups: Group[] = [];
  let current: Group | undefined;
  for (const raw of body.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/)) {
    const line = raw.replace(/#.*$/, "").trim();
    const colon = line.indexOf(":");
    if (colon <= 0) {
      continue;
    }
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (agentKeys.has(key)) {
      if (!current || current.closed) {
        current = { agents: [], lines: [], closed: false };
        groups.push(current);
      }
      current.agents.push(value);
      continue;
    }
    if (!current) {
      // Rules before any user-agent line belong to no group and are ignored.
      continue;
    }
    const rule = ruleKeys.get(key);
    if (rule) {
      current.lines.push(`${rule}: ${value}`);
      current.closed = true;
    } else if (key === "crawl-delay") {
      current.lines.push(`Crawl-delay: ${value}`);
    }
  }
  const ours = groups.filter((group) => group.agents.some(namesUs));
  const chosen = ours.length > 0 ? ours : groups.filter((group) => group.agents.some(isGlobal));
  return chosen.flatMap((group) => group.lines);
}

function isGlobal(agent: string): boolean {
  return agent === "*" || /^\*\s/.test(agent);
}

function namesUs(agent: string): boolean {
  const product = /^[A-Za-z_-]*/.exec(agent)?.[0] ?? "";
  return product.toLowerCase() === robotsToken.toLowerCase();
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
