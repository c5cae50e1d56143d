/** Postgres text timestamps (`2026-11-24 21:07:00.123456+00`) as ISO 8601, keeping microseconds. */
export function isoTimestamp(value: string): string {
  return value.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00");
}

export function timestampMs(value: string): number {
  return Date.parse(isoTimestamp(value));
}
