import { getRedis } from "../kv";
import { BlockedAddressError } from "./address-guard";
import { parseRetryAfter } from "./backoff";
import type { GuardedFetcher } from "./fetch";
import { parseRobots, type RobotsRules } from "./robots";

const robotsTtlSeconds = 86_400;

/**
 * robots.txt of an origin: from Redis when read within a day, else fetched (politely) and kept.
 * Only an answer that is a verdict (2xx, or a 4xx other than 429) is kept: "not now" is retried
 * after the domain's backoff instead of standing for a day.
 */
export async function robotsFor(
  origin: string,
  fetcher: GuardedFetcher,
  takeTurn: () => Promise<() => Promise<void>>,
): Promise<RobotsRules> {
  const key = `scrape:robots:${origin}`;
  const redis = getRedis();
  const stored = await redis.get<{ status: number; body: string }>(key);
  const robotsUrl = `${origin}/robots.txt`;
  // Entries kept before "not now" stopped being kept (a 429) are read again, not obeyed for a day.
  if (stored && stored.status !== 429 && stored.status < 500) {
    return parseRobots(robotsUrl, stored.status, stored.body);
  }
  const release = await takeTurn();
  let status: number;
  let body = "";
  let retryAfter: string | null = null;
  try {
    const response = await fetcher.fetchFollowing(robotsUrl);
    status = response.status;
    retryAfter = response.headers.get("retry-after");
    body = response.body.toString("utf8").slice(0, 500_000);
  } catch (error) {
    if (error instanceof BlockedAddressError) {
      throw error;
    }
    return parseRobots(robotsUrl, null, "");
  } finally {
    await release();
  }
  const rules = parseRobots(robotsUrl, status, body, parseRetryAfter(retryAfter));
  if (rules.available) {
    await redis.set(key, { status, body }, { ex: robotsTtlSeconds });
  }
  return rules;
}
