import { describe, expect, it } from "vitest";
import { checkEmails } from "../lib/scrape/email-check";
import { combineScore, type LeadFacts, ruleScore } from "../lib/scrape/score";

const criteria = {
  industries: ["coffee", "hospitality"],
  roles: ["owner", "buyer"],
  locations: ["Bristol"],
  keywords: ["wholesale", "espresso"],
};

const base: LeadFacts = {
  name: "Priya Raman",
  email: "priya@harbourcafe.example",
  emailMx: true,
  emailIsRole: false,
  phone: "+441174960123",
  role: "Owner",
  industry: "hospitality",
  location: "Bristol, UK",
  pageText: "Speciality espresso bar on the harbour; wholesale enquiries welcome.",
  signals: ["structured business data (JSON-LD)", "a published phone number", "a team page naming 3 people"],
};

describe("lead scoring", () => {
  it("scores a matching owner with a verified personal address near the top, with every reason", () => {
    const factors = ruleScore(base, criteria);
    expect(factors.map((f) => [f.factor, f.points])).toEqual([
      ["contact_quality", 30],
      ["role_fit", 25],
      ["criteria_match", 20],
      ["signals", 5],
    ]);
    const { score, factors: all } = combineScore(factors, {
      points: 18,
      reason: "Independent cafe that buys wholesale",
    });
    expect(score).toBe(98);
    expect(all.at(-1)).toEqual({
      factor: "model_judgement",
      points: 18,
      max: 20,
      reason: "Independent cafe that buys wholesale",
    });
    expect(all.every((f) => f.reason.length > 0)).toBe(true);
  });

  it("scores a shared inbox on a domain without MX, no role, no match, near the bottom", () => {
    const factors = ruleScore(
      {
        ...base,
        name: null,
        email: "info@nomail.example",
        emailMx: false,
        emailIsRole: true,
        phone: null,
        role: null,
        industry: null,
        location: null,
        pageText: "Plumbing services",
        signals: [],
      },
      criteria,
    );
    expect(factors.map((f) => f.points)).toEqual([0, 0, 0, 0]);
    expect(factors[0]?.reason).toContain("no MX");
    expect(combineScore(factors, { points: 50, reason: "over the cap" }).score).toBe(20);
  });

  it("a senior role outside the targets still counts, less", () => {
    const [, role] = ruleScore({ ...base, role: "Managing Director" }, criteria);
    expect(role).toMatchObject({ points: 15, reason: 'senior role "Managing Director"' });
  });
});

describe("email checks", () => {
  it("checks syntax and MX once per domain, and flags shared inboxes", async () => {
    const asked: string[] = [];
    const lookup = async (domain: string) => {
      asked.push(domain);
      if (domain === "nomail.example") {
        throw Object.assign(new Error("no data"), { code: "ENODATA" });
      }
      if (domain === "flaky.example") {
        throw Object.assign(new Error("timeout"), { code: "ETIMEOUT" });
      }
      return [{ exchange: `mx.${domain}` }];
    };
    const checks = await checkEmails(
      ["priya@cafe.example", "info@cafe.example", "x@nomail.example", "y@flaky.example", "not-an-address"],
      lookup,
    );
    expect(checks.map((c) => [c.address, c.syntax, c.mx, c.role])).toEqual([
      ["priya@cafe.example", true, true, false],
      ["info@cafe.example", true, true, true],
      ["x@nomail.example", true, false, false],
      ["y@flaky.example", true, null, false],
      ["not-an-address", false, false, false],
    ]);
    expect(asked.sort()).toEqual(["cafe.example", "flaky.example", "nomail.example"]);
  });
});
