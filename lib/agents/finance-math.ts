import { z } from "zod";

/** The figures a finance analysis starts from; every field is optional because users give what they have. */
export const figuresSchema = z.object({
  monthly_revenue: z.number().nonnegative().nullable(),
  monthly_costs: z.number().nonnegative().nullable(),
  cash_on_hand: z.number().nonnegative().nullable(),
  monthly_growth_rate_percent: z.number().min(-100).max(1000).nullable(),
  customers: z.number().int().nonnegative().nullable(),
  cac: z.number().nonnegative().nullable().describe("Customer acquisition cost"),
  arpu_monthly: z.number().nonnegative().nullable().describe("Average revenue per customer per month"),
  gross_margin_percent: z.number().min(-100).max(100).nullable(),
  monthly_churn_percent: z.number().min(0).max(100).nullable(),
  cost_breakdown: z.array(z.object({ category: z.string(), monthly_amount: z.number().nonnegative() })),
});
export type Figures = z.infer<typeof figuresSchema>;

export const metricNames = [
  "monthly_net_burn",
  "runway_months",
  "ltv",
  "ltv_to_cac",
  "payback_months",
  "revenue_in_12_months",
] as const;
export type MetricName = (typeof metricNames)[number];
export type Metrics = Record<MetricName, number | null>;

const known = (value: number | null | undefined): value is number =>
  typeof value === "number" && Number.isFinite(value);
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The numbers that follow from the figures; null where the figures do not determine them. */
export function computeMetrics(figures: Figures): Metrics {
  const margin = known(figures.gross_margin_percent) ? figures.gross_margin_percent / 100 : 1;
  const burn =
    known(figures.monthly_costs) && known(figures.monthly_revenue)
      ? figures.monthly_costs - figures.monthly_revenue
      : null;
  const monthlyContribution = known(figures.arpu_monthly) ? figures.arpu_monthly * margin : null;
  const ltv =
    monthlyContribution !== null && known(figures.monthly_churn_percent) && figures.monthly_churn_percent > 0
      ? monthlyContribution / (figures.monthly_churn_percent / 100)
      : null;
  return {
    monthly_net_burn: burn === null ? null : round(burn),
    // A business that is not burning cash has no runway limit: null, and the answer says so.
    runway_months:
      burn !== null && burn > 0 && known(figures.cash_on_hand) ? round(figures.cash_on_hand / burn, 1) : null,
    ltv: ltv === null ? null : round(ltv),
    ltv_to_cac: ltv !== null && known(figures.cac) && figures.cac > 0 ? round(ltv / figures.cac) : null,
    payback_months:
      monthlyContribution !== null && monthlyContribution > 0 && known(figures.cac)
        ? round(figures.cac / monthlyContribution, 1)
        : null,
    revenue_in_12_months:
      known(figures.monthly_revenue) && known(figures.monthly_growth_rate_percent)
        ? round(figures.monthly_revenue * (1 + figures.monthly_growth_rate_percent / 100) ** 12)
        : null,
  };
}

export interface BudgetLine {
  category: string;
  monthly_amount: number;
  share_percent: number;
}

export function budgetTable(figures: Figures): {
  lines: BudgetLine[];
  total: number;
  unexplained: number | null;
} {
  const total = figures.cost_breakdown.reduce((sum, line) => sum + line.monthly_amount, 0);
  const lines = [...figures.cost_breakdown]
    .sort((a, b) => b.monthly_amount - a.monthly_amount)
    .map((line) => ({
      category: line.category,
      monthly_amount: round(line.monthly_amount),
      share_percent: total > 0 ? round((line.monthly_amount / total) * 100, 1) : 0,
    }));
  return {
    lines,
    total: round(total),
    // Costs the user stated but the breakdown does not account for.
    unexplained:
      known(figures.monthly_costs) && lines.length > 0 ? round(figures.monthly_costs - total) : null,
  };
}

export interface Check {
  metric: MetricName;
  stated: number | null;
  computed: number | null;
  verdict: "agrees" | "corrected" | "unsupported" | "not_stated";
}

/** Compares each number the model stated with the one computed here (1% or 0.05 tolerance). */
export function checkStated(stated: Partial<Record<MetricName, number | null>>, computed: Metrics): Check[] {
  return metricNames.map((metric) => {
    const said = stated[metric] ?? null;
    const value = computed[metric];
    if (said === null) {
      return { metric, stated: null, computed: value, verdict: "not_stated" };
    }
    if (value === null) {
      return { metric, stated: said, computed: null, verdict: "unsupported" };
    }
    const agrees = Math.abs(said - value) <= Math.max(0.05, Math.abs(value) * 0.01);
    return { metric, stated: said, computed: value, verdict: agrees ? "agrees" : "corrected" };
  });
}

/** The user's own figures win over what the model read out of the prompt. */
export function mergeFigures(fromModel: Figures, fromUser: Partial<Figures> | undefined): Figures {
  if (!fromUser) {
    return fromModel;
  }
  const merged = { ...fromModel };
  for (const [key, value] of Object.entries(fromUser) as [keyof Figures, Figures[keyof Figures]][]) {
    if (value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0)) {
      (merged as Record<string, unknown>)[key] = value;
    }
  }
  return merged;
}
