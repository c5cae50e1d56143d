import { Ratelimit } from "@upstash/ratelimit";
import { getRedis } from "../kv";
import { ApiError } from "./errors";

const limiters = new Map<string, Ratelimit>();

/** One limiter per name and rate, kept for the life of the instance so its local cache helps. */
function limiter(name: string, perMinute: number): Ratelimit {
  const id = `${name}:${perMinute}`;
  let existing = limiters.get(id);
  if (!existing) {
    existing = new Ratelimit({
      redis: getRedis(),
      limiter: Ratelimit.slidingWindow(perMinute, "1 m"),
      prefix: `rl:${name}`,
      analytics: false,
      // No fail-open timeout: when Redis cannot count, the request is refused, not waved through.
      timeout: 0,
    });
    limiters.set(id, existing);
  }
  return existing;
}

/**
 * Counts one request of `identifier` against `name`'s budget. Past it: 429 with Retry-After in
 * seconds and the RateLimit-* headers; under it, the headers to add to the reply.
 */
export async function rateLimit(
  name: string,
  identifier: string,
  perMinute: number,
): Promise<Record<string, string>> {
  let result: Awaited<ReturnType<Ratelimit["limit"]>>;
  try {
    result = await limiter(name, perMinute).limit(identifier);
  } catch (error) {
    throw new ApiError("service_unavailable", "Rate limiting is unavailable; retry shortly", {
      cause: error,
      headers: { "retry-after": "5" },
    });
  }
  const resetSeconds = Math.max(1, Math.ceil((result.reset - Date.now()) / 1000));
  const headers = {
    "ratelimit-limit": String(result.limit),
    "ratelimit-remaining": String(Math.max(0, result.remaining)),
    "ratelimit-reset": String(resetSeconds),
  };
  if (!result.success) {
    throw new ApiError(
      "rate_limited",
      `Too many requests: ${perMinute} a minute; retry in ${resetSeconds} s`,
      {
        headers: { ...headers, "retry-after": String(resetSeconds) },
        retryable: true,
      },
    );
  }
  return headers;
}
