/**
 * Text from outside (a scraped page, an inbound email) as it may be stored and shown to a model:
 * Unicode-normalised, without control characters, zero-width characters or bidirectional overrides
 * (which hide text from a reader but not from a model), whitespace collapsed, and capped. Null for
 * anything that is not a non-empty string.
 */
// Controls (C0, C1) and format characters: zero-width ones, bidi embeddings, overrides and
// isolates, the BOM, soft hyphens.
const invisible = /[\p{Cc}\p{Cf}]/gu;

export function cleanText(value: unknown, max: number): string | null {
  if (typeof value !== "string") {
    return null;
  }
  // Lone surrogates become U+FFFD: JSON would write them as escapes that jsonb refuses.
  const cleaned = value.toWellFormed().normalize("NFC").replace(invisible, " ").replace(/\s+/g, " ").trim();
  if (!cleaned) {
    return null;
  }
  if (cleaned.length <= max) {
    return cleaned;
  }
  // Cut by code points, so an emoji at the edge is dropped whole, not halved.
  return `${Array.from(cleaned.slice(0, max)).slice(0, -1).join("").trimEnd()}…`;
}

/** The caps on scraped fields: a name or role is a few words, a description a sentence or two. */
export const fieldCaps = {
  name: 80,
  role: 80,
  company: 120,
  description: 300,
  address: 200,
  url: 300,
  subject: 300,
  snippet: 500,
} as const;

/**
 * A short field (a name, a role, a company): cleaned, and null when it is longer than a real one
 * ever is, rather than cut (a 200-character "name" is not a name, whatever its first 80 say).
 */
export function shortField(value: unknown, max: number): string | null {
  const cleaned = cleanText(value, max + 1);
  return cleaned && cleaned.length <= max ? cleaned : null;
}

/**
 * Every string of an untrusted JSON value made well formed (a lone surrogate, which a page's JSON
 * can carry as `\ud83d`, becomes U+FFFD), so it can be stored as jsonb; no deeper than `depth`.
 */
export function wellFormedJson(value: unknown, depth = 32): unknown {
  if (typeof value === "string") {
    return value.toWellFormed();
  }
  if (depth <= 0 || value === null || typeof value !== "object") {
    return typeof value === "object" ? null : value;
  }
  if (Array.isArray(value)) {
    return value.map((item) => wellFormedJson(item, depth - 1));
  }
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key.toWellFormed(), wellFormedJson(item, depth - 1)]),
  );
}
