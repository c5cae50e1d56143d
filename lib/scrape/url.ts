/** Query parameters that only track a visit; dropped so the same page has one cache key. */
const trackingParameters = /^(utm_[a-z_]+|gclid|fbclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|ref|ref_src)$/i;

/**
 * The cache key of a page: scheme and host lower-cased, default port and fragment dropped, tracking
 * parameters removed, the remaining ones sorted, no trailing slash on a non-root path.
 */
export function normalizeUrl(input: string): string {
  const url = new URL(input);
  url.hash = "";
  url.username = "";
  url.password = "";
  const kept = [...url.searchParams.entries()].filter(([name]) => !trackingParameters.test(name));
  kept.sort(([a, x], [b, y]) => (a === b ? x.localeCompare(y) : a.localeCompare(b)));
  url.search = new URLSearchParams(kept).toString();
  if (url.pathname.length > 1 && url.pathname.endsWith("/")) {
    url.pathname = url.pathname.replace(/\/+$/, "");
  }
  return url.toString();
}

/** The site a page belongs to, for politeness and same-site link following: its host without `www.`. */
export function siteOf(input: string | URL): string {
  const host = (typeof input === "string" ? new URL(input) : input).hostname.toLowerCase();
  return host.startsWith("www.") ? host.slice(4) : host;
}

export function sameSite(a: string | URL, b: string | URL): boolean {
  return siteOf(a) === siteOf(b);
}
