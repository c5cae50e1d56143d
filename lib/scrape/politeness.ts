import { getRedis } from "../kv";
import { acquireLock } from "../lock";

export interface PolitenessRules {
  /** The jittered gap between two requests to one domain, in milliseconds. */
  minGapMs: number;
  maxGapMs: number;
  /** The site's robots.txt Crawl-delay; used when longer than the gap. */
  crawlDelaySeconds?: number | undefined;
  /** How long a turn may hold the domain before its lease lapses. */
  leaseMs?: number;
  /** How long to wait for a turn before giving up (the job is then retried later). */
  waitMs?: number;
}

export interface Turn {
  /** When this request was allowed to start. */
  startedAt: number;
  /** Records when the request ended (the next gap counts from here) and frees the domain. */
  done(): Promise<void>;
}

const lastKey = (domain: string) => `scrape:last:${domain}`;

/**
 * One request in flight per domain across every worker (an owner-token lock), and a gap of
 * 2–5 s with jitter, or the Crawl-delay if longer, since the previous request to it ended.
 * Different domains never wait for each other. Undefined when no turn came within `waitMs`.
 */
export async function waitForTurn(domain: string, rules: PolitenessRules): Promise<Turn | undefined> {
  const lock = await acquireLock(`scrape:domain:${domain}`, rules.leaseMs ?? 60_000, rules.waitMs ?? 30_000);
  if (!lock) {
    return undefined;
  }
  const redis = getRedis();
  const jitter = rules.minGapMs + Math.random() * Math.max(0, rules.maxGapMs - rules.minGapMs);
  const gap = Math.max(jitter, (rules.crawlDelaySeconds ?? 0) * 1000);
  const last = Number((await redis.get<number>(lastKey(domain))) ?? 0);
  const wait = last + gap - Date.now();
  if (wait > 0) {
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  const startedAt = Date.now();
  return {
    startedAt,
    async done() {
      await redis.set(lastKey(domain), Date.now(), { ex: 3600 });
      await lock.release();
    },
  };
}
