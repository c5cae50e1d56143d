import { normalizeUrl, sameSite } from "./url";

/** Links whose path or text suggests contacts, best first. */
const contactHints: RegExp[] = [
  /contact|kontakt|get-in-touch|reach-us|enquir/i,
  /team|people|staff|leadership|our-people|who-we-are|founders/i,
  /about|company|our-story/i,
  /imprint|impressum|legal-notice/i,
];
const notPages = /\.(pdf|jpe?g|png|gif|svg|webp|zip|mp[34]|docx?|xlsx?|pptx?|css|js|xml|json)$/i;

export function contactLinks(links: { url: string; text: string }[], site: string): string[] {
  const ranked: { url: string; rank: number }[] = [];
  const seen = new Set<string>();
  for (const link of links) {
    let url: URL;
    try {
      url = new URL(link.url);
    } catch {
      continue;
    }
    if (!sameSite(url, `http://${site}`) || notPages.test(url.pathname)) {
      continue;
    }
    const key = normalizeUrl(url.toString());
    const haystack = `${url.pathname} ${link.text}`;
    const rank = contactHints.findIndex((hint) => hint.test(haystack));
    if (rank >= 0 && !seen.has(key)) {
      seen.add(key);
      ranked.push({ url: url.toString(), rank });
    }
  }
  return ranked.sort((a, b) => a.rank - b.rank).map((entry) => entry.url);
}
