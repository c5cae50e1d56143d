/**
 * The value formats QStash's API reads, as its documentation states them. Each function refuses
 * what QStash refuses, so the broker is never more lenient than the service.
 */

const units: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/**
 * `Upstash-Delay`: `<value><unit>` with units s, m, h, d, and combinations such as `1d10h30m`
 * (https://upstash.com/docs/qstash/api/publish, the Upstash-Delay header; its examples include
 * "1d10h30m"). Each unit at most once, largest first; a bare number has no unit and is refused.
 */
export function parseDelay(value: string): number {
  const match = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value.trim());
  if (!match || value.trim() === "") {
    throw new Error(`invalid Upstash-Delay "${value}": expected <value><unit> with units s, m, h, d`);
  }
  const [, d, h, m, s] = match;
  return (
    Number(d ?? 0) * (units.d as number) +
    Number(h ?? 0) * (units.h as number) +
    Number(m ?? 0) * (units.m as number) +
    Number(s ?? 0) * (units.s as number)
  );
}

const goUnits: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A retry time the destination sets in `Retry-After`, `X-RateLimit-Reset`,
 * `X-RateLimit-Reset-Requests` or `X-RateLimit-Reset-Tokens`: seconds, an RFC 1123 date, or a
 * duration such as `6m5s` with units ns, us (µs), ms, s, m, h
 * (https://upstash.com/docs/qstash/features/retry#retry-after-headers). Milliseconds from now, or
 * undefined for a value in none of the three forms.
 */
export function parseRetryAt(value: string, now = Date.now()): number | undefined {
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    return Number(trimmed) * 1000;
  }
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(trimmed)) {
    let total = 0;
    for (const part of trimmed.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
      total += Number(part[1]) * (goUnits[part[2] as string] as number);
    }
    return Math.round(total);
  }
  // RFC 1123, e.g. "Sun, 27 Jun 2024 12:16:24 GMT".
  if (/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(trimmed)) {
    const at = Date.parse(trimmed);
    return Number.isNaN(at) ? undefined : Math.max(0, at - now);
  }
  return undefined;
}

/** The headers QStash reads a retry time from, in the order its documentation lists them. */
export const retryAtHeaders = [
  "retry-after",
  "x-ratelimit-reset",
  "x-ratelimit-reset-requests",
  "x-ratelimit-reset-tokens",
];

/** QStash's own backoff: min(86400, e^(2.5n)) seconds before retry n (https://upstash.com/docs/qstash/features/retry). */
export const qstashBackoffMs = (retry: number) => Math.min(86_400, Math.exp(2.5 * retry)) * 1000;

/** The longest delay a destination's retry header can ask for: the backoff's own cap, one day. */
export const maxRetryAtMs = 86_400_000;

/**
 * A schedule's cron, with the `CRON_TZ=<IANA zone>` prefix QStash accepts
 * (https://upstash.com/docs/qstash/features/schedules#timezones); UTC without one. An unknown zone
 * is refused.
 */
export function parseCron(value: string): { expression: string; tz: string } {
  const match = /^CRON_TZ=(\S+)\s+(.+)$/.exec(value.trim());
  const tz = match?.[1] ?? "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
  } catch {
    throw new Error(`invalid CRON_TZ time zone "${tz}"`);
  }
  return { expression: (match?.[2] ?? value).trim(), tz };
}
