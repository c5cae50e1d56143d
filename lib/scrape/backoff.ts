import { eq, sql } from "drizzle-orm";
import { domainBackoff } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";

const baseSeconds = 60;
const maxSeconds = 6 * 3600;

export interface DomainFailure {
  status: number | null;
  /** The server's Retry-After, in seconds, when it sent one. */
  retryAfterSeconds?: number | undefined;
  reason: string;
}

/**
 * Puts a domain in backoff after a 429, a 503 or a timeout: exponential from a minute (doubling per
 * consecutive failure, at most six hours), never shorter than the server's own Retry-After.
 * Returns when the domain may be fetched again.
 */
export async function recordDomainFailure(domain: string, failure: DomainFailure): Promise<Date> {
  const db = await serviceDb();
  const retryAfter = Math.max(0, Math.min(failure.retryAfterSeconds ?? 0, 24 * 3600));
  const [row] = await db
    .insert(domainBackoff)
    .values({
      domain,
      failures: 1,
      reason: failure.reason.slice(0, 500),
      last_status: failure.status,
      backoff_until: sql`now() + make_interval(secs => greatest(${baseSeconds}::float8, ${retryAfter}::float8))`,
    })
    .onConflictDoUpdate({
      target: domainBackoff.domain,
      set: {
        failures: sql`${domainBackoff.failures} + 1`,
        reason: failure.reason.slice(0, 500),
        last_status: failure.status,
        backoff_until: sql`now() + make_interval(secs => greatest(least(${baseSeconds}::float8 * power(2, ${domainBackoff.failures}), ${maxSeconds}::float8), ${retryAfter}::float8))`,
      },
    })
    .returning({ until: domainBackoff.backoff_until });
  return new Date(timestampMs(row?.until ?? new Date().toISOString()));
}

/** When the domain may be fetched again, or undefined if it may be now. */
export async function domainBackoffUntil(domain: string): Promise<Date | undefined> {
  const db = await serviceDb();
  const [row] = await db
    .select({ until: domainBackoff.backoff_until })
    .from(domainBackoff)
    .where(eq(domainBackoff.domain, domain));
  if (!row) {
    return undefined;
  }
  const until = timestampMs(row.until);
  return until > Date.now() ? new Date(until) : undefined;
}

/** A successful fetch ends the streak. */
export async function clearDomainBackoff(domain: string): Promise<void> {
  const db = await serviceDb();
  await db.delete(domainBackoff).where(eq(domainBackoff.domain, domain));
}

/** Retry-After as seconds: a number of seconds or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) {
    return undefined;
  }
  if (/^\d+$/.test(value.trim())) {
    return Number(value.trim());
  }
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
