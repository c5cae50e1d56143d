import { createHash } from "node:crypto";

/**
 * What a draft's check covers. A draft is queued only while its text is the text that passed its
 * check: the check records this hash, and an edit (which the browser may make) changes it, so the
 * draft must be checked again before it can go.
 */
export function draftHash(draft: {
  subject: string | null;
  body_text: string | null;
  body_html: string | null;
}) {
  return createHash("sha256")
    .update([draft.subject ?? "", draft.body_text ?? "", draft.body_html ?? ""].join("\u0000"))
    .digest("hex");
}

const urlPattern = /\bhttps?:\/\/[^\s"'<>)]+|\bwww\.[^\s"'<>)]+/gi;
const addressPattern = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;

const hostOf = (value: string): string | undefined => {
  try {
    return new URL(value.startsWith("www.") ? `https://${value}` : value).hostname.toLowerCase();
  } catch {
    return undefined;
  }
};

/** The hosts a draft may link to and the domains it may give addresses of. */
export function allowedDomains(sources: (string | null | undefined)[]): string[] {
  const domains = new Set<string>();
  for (const source of sources) {
    if (!source) {
      continue;
    }
    const domain = source.includes("@") ? source.split("@").pop() : hostOf(source);
    if (domain) {
      domains.add(domain.toLowerCase().replace(/^www\./, ""));
    }
  }
  return [...domains];
}

/**
 * Links and addresses in a draft that come from neither the lead's data nor the workspace's own
 * domains: a draft holding one is kept for review (a model repeating a page's injected link, or an
 * edit that swapped a link, never goes out unread).
 */
export function foreignReferences(
  draft: { subject: string | null; body_text: string | null; body_html: string | null },
  domains: string[],
): string[] {
  const text = [draft.subject ?? "", draft.body_text ?? "", draft.body_html ?? ""].join("\n");
  const allowed = (host: string) =>
    domains.some((domain) => host === domain || host.endsWith(`.${domain}`) || host === `www.${domain}`);
  const found = new Set<string>();
  for (const match of text.match(urlPattern) ?? []) {
    const host = hostOf(match.replace(/[.,;:!?]+$/, ""));
    if (!host || !allowed(host)) {
      found.add(match);
    }
  }
  for (const match of text.match(addressPattern) ?? []) {
    const domain = match.split("@").pop()?.toLowerCase() ?? "";
    if (!allowed(domain)) {
      found.add(match);
    }
  }
  return [...found];
}

/** The domains of the links and addresses a text of the workspace's own (a campaign, a template) gives. */
export function referencedDomains(texts: (string | null | undefined)[]): string[] {
  const text = texts.filter(Boolean).join("\n");
  return allowedDomains([
    ...(text.match(urlPattern) ?? []).map((match) => match.replace(/[.,;:!?]+$/, "")),
    ...(text.match(addressPattern) ?? []),
  ]);
}

/**
 * Sentences of a draft that state something about the lead while its facts_used is empty: a value
 * of the lead's data (company, role, place, industry, website) or a number. A model that lists no
 * facts yet writes "I saw your 40 seats in Bristol" has claims nobody checked, so the draft is held.
 * The greeting's name is not a claim.
 */
export function claimsWithoutFacts(
  bodyText: string | null,
  facts: string[],
  leadValues: (string | null)[],
): string[] {
  if (facts.length > 0 || !bodyText) {
    return [];
  }
  const values = leadValues
    .filter((value): value is string => Boolean(value && value.trim().length >= 3))
    .map((value) => value.toLowerCase());
  return bodyText
    .split(/(?<=[.!?])\s+|\n+/)
    .map((sentence) => sentence.trim())
    .filter((sentence) => {
      const lower = sentence.toLowerCase();
      return /\d/.test(sentence) || values.some((value) => lower.includes(value));
    });
}
