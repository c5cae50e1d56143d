/** The ideal-customer profile a lead is scored against. */
export interface Criteria {
  industries?: string[] | undefined;
  roles?: string[] | undefined;
  locations?: string[] | undefined;
  keywords?: string[] | undefined;
  company_size?: { min?: number | undefined; max?: number | undefined } | undefined;
}

export interface LeadFacts {
  name: string | null;
  email: string | null;
  emailMx: boolean | null;
  emailIsRole: boolean;
  phone: string | null;
  role: string | null;
  industry: string | null;
  location: string | null;
  /** Text of the pages the lead was found on, for keyword matches. */
  pageText: string;
  /** What the site shows about the business itself (structured data, a phone, a named team). */
  signals?: string[] | undefined;
}

export interface ScoreFactor {
  factor: "contact_quality" | "role_fit" | "criteria_match" | "signals" | "model_judgement";
  points: number;
  max: number;
  reason: string;
}

const seniority =
  /\b(owner|founder|co-founder|ceo|managing director|director|head|partner|president|principal|vp)\b/i;

const includesAny = (text: string | null, needles: string[] | undefined) =>
  Boolean(text && needles?.some((needle) => needle && text.toLowerCase().includes(needle.toLowerCase())));

/**
 * The rule-based part of a lead's score, out of 80 (contact quality 30, role fit 25, criteria match
 * 20, signals 5), with the reason for every point; the model's
 * judgement against the criteria adds up to 20 (see combineScore). Nothing here is guessed: each
 * factor is a fact found on the lead's pages.
 */
export function ruleScore(facts: LeadFacts, criteria: Criteria): ScoreFactor[] {
  const factors: ScoreFactor[] = [];

  let contact = 0;
  const contactReasons: string[] = [];
  if (facts.email) {
    contact += facts.emailIsRole ? 8 : 18;
    contactReasons.push(facts.emailIsRole ? "shared inbox address" : "personal address");
    if (facts.emailMx === true) {
      contact += 6;
      contactReasons.push("domain accepts mail (MX)");
    } else if (facts.emailMx === false) {
      contact -= 10;
      contactReasons.push("domain has no MX records");
    }
  }
  if (facts.phone) {
    contact += 3;
    contactReasons.push("phone number");
  }
  if (facts.name) {
    contact += 3;
    contactReasons.push("named person");
  }
  factors.push({
    factor: "contact_quality",
    points: Math.max(0, Math.min(30, contact)),
    max: 30,
    reason: contactReasons.join(", ") || "no direct contact found",
  });

  let roleFit = 0;
  let roleReason = "no role found";
  if (facts.role) {
    if (includesAny(facts.role, criteria.roles)) {
      roleFit = 25;
      roleReason = `role "${facts.role}" matches the target roles`;
    } else if (seniority.test(facts.role)) {
      roleFit = 15;
      roleReason = `senior role "${facts.role}"`;
    } else {
      roleFit = 5;
      roleReason = `role "${facts.role}" outside the target roles`;
    }
  }
  factors.push({ factor: "role_fit", points: roleFit, max: 25, reason: roleReason });

  const matches: string[] = [];
  let criteriaPoints = 0;
  if (includesAny(facts.industry, criteria.industries) || includesAny(facts.pageText, criteria.industries)) {
    criteriaPoints += 8;
    matches.push("industry");
  }
  if (includesAny(facts.location, criteria.locations) || includesAny(facts.pageText, criteria.locations)) {
    criteriaPoints += 6;
    matches.push("location");
  }
  const keywordHits = (criteria.keywords ?? []).filter((keyword) => includesAny(facts.pageText, [keyword]));
  if (keywordHits.length > 0) {
    criteriaPoints += Math.min(6, keywordHits.length * 3);
    matches.push(`keywords: ${keywordHits.slice(0, 4).join(", ")}`);
  }
  factors.push({
    factor: "criteria_match",
    points: criteriaPoints,
    max: 20,
    reason: matches.length ? `matches ${matches.join("; ")}` : "no criterion found on the pages",
  });
  const signals = facts.signals ?? [];
  factors.push({
    factor: "signals",
    points: Math.min(5, signals.length * 2),
    max: 5,
    reason: signals.length ? signals.join(", ") : "no business signals on the site",
  });
  return factors;
}

/** Rule factors plus the model's judgement (0–20): the lead's score, 0–100, and its reasons. */
export function combineScore(rules: ScoreFactor[], judgement: { points: number; reason: string }) {
  const model: ScoreFactor = {
    factor: "model_judgement",
    points: Math.max(0, Math.min(20, Math.round(judgement.points))),
    max: 20,
    reason: judgement.reason.slice(0, 300),
  };
  const factors = [...rules, model];
  const score = Math.max(
    0,
    Math.min(
      100,
      factors.reduce((sum, factor) => sum + factor.points, 0),
    ),
  );
  return { score, factors };
}
