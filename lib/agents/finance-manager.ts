import { z } from "zod";
import { raiseAlert } from "../alerts";
import { getConfig } from "../config";
import { alertSeverities } from "../db/schema";
import {
  budgetTable,
  type Check,
  checkStated,
  computeMetrics,
  figuresSchema,
  type Metrics,
  mergeFigures,
  metricNames,
} from "./finance-math";
import { type AgentDefinition, agentRequest, askModel, recentTasksOf } from "./runtime";

const financeRequest = agentRequest.extend({
  context: z.object({ figures: figuresSchema.partial().optional() }).catchall(z.unknown()).optional().meta({
    description:
      "Optional `figures` (monthly revenue, costs, cash, growth, CAC, ARPU, churn, cost breakdown)",
  }),
});
type FinanceRequest = z.infer<typeof financeRequest>;

const answerSchema = z.object({
  figures: figuresSchema.describe("Only numbers the user gave; null for anything not given"),
  stated: z
    .object(
      Object.fromEntries(metricNames.map((name) => [name, z.number().nullable()])) as Record<
        (typeof metricNames)[number],
        z.ZodNullable<z.ZodNumber>
      >,
    )
    .describe("The value of each metric as your answer states it, or null"),
  response: z.string().describe("The analysis for the user: budget, runway, unit economics, in prose"),
  recommendations: z.array(z.string()),
  risks: z.array(z.object({ title: z.string(), severity: z.enum(alertSeverities), detail: z.string() })),
});

const system = `You are Marcus, the finance manager of a small business's AI team.
Read the figures the user gives (monthly revenue and costs, cash, growth, customers, CAC, ARPU, gross
margin, churn, cost breakdown) and analyse budget, runway and unit economics. Never invent a figure:
leave it null. Definitions: net burn = costs - revenue; runway = cash / net burn (only when burning);
LTV = ARPU x gross margin / monthly churn; LTV:CAC = LTV / CAC; payback = CAC / (ARPU x gross margin);
revenue in 12 months = revenue x (1 + growth)^12. Reply with JSON only, matching the schema.`;

const labels: Record<(typeof metricNames)[number], string> = {
  monthly_net_burn: "monthly net burn",
  runway_months: "runway (months)",
  ltv: "LTV",
  ltv_to_cac: "LTV:CAC",
  payback_months: "CAC payback (months)",
  revenue_in_12_months: "revenue in 12 months",
};

function corrections(checks: Check[]): string {
  const wrong = checks.filter((check) => check.verdict === "corrected" || check.verdict === "unsupported");
  if (wrong.length === 0) {
    return "";
  }
  const lines = wrong.map((check) =>
    check.verdict === "corrected"
      ? `${labels[check.metric]} is ${check.computed} (the draft said ${check.stated})`
      : `${labels[check.metric]} cannot be computed from the figures given (the draft said ${check.stated})`,
  );
  return `\n\nChecked against the figures: ${lines.join("; ")}.`;
}

export const financeManager: AgentDefinition<FinanceRequest> = {
  name: "finance-manager",
  summary: "Budget table, runway and unit economics, every derivable number computed and checked in code",
  input: financeRequest,
  async run({ user, workspace, task, input }) {
    const memory = await recentTasksOf({ user, workspace }, "finance-manager");
    const { data, usage, encoded } = await askModel({
      agent: "finance-manager",
      workspaceId: workspace.id,
      userId: user.id,
      schema: answerSchema,
      schemaName: "finance_analysis",
      temperature: 0.2,
      maxTokens: 2500,
      system,
      context: {
        earlier_conversations: memory,
        ...(input.context ? { from_user: input.context } : {}),
      },
      prompt: input.prompt,
    });

    const figures = mergeFigures(data.figures, input.context?.figures);
    const metrics: Metrics = computeMetrics(figures);
    const checks = checkStated(data.stated, metrics);
    const budget = budgetTable(figures);

    const alertIds: string[] = [];
    const threshold = getConfig().RUNWAY_ALERT_MONTHS;
    if (metrics.runway_months !== null && metrics.runway_months < threshold) {
      alertIds.push(
        await raiseAlert({
          workspaceId: workspace.id,
          userId: user.id,
          taskId: task.id,
          type: "finance.runway",
          severity: "critical",
          title: "Runway below threshold",
          message: `At a net burn of ${metrics.monthly_net_burn} a month, cash lasts ${metrics.runway_months} months (threshold ${threshold}).`,
          metadata: { metrics },
        }),
      );
    }
    if (metrics.ltv_to_cac !== null && metrics.ltv_to_cac < 3) {
      alertIds.push(
        await raiseAlert({
          workspaceId: workspace.id,
          userId: user.id,
          taskId: task.id,
          type: "finance.unit_economics",
          severity: "warning",
          title: "Unit economics below 3:1",
          message: `LTV:CAC is ${metrics.ltv_to_cac}; customers return less than three times what they cost to win.`,
          metadata: { metrics },
        }),
      );
    }
    return {
      result: {
        response: `${data.response}${corrections(checks)}`,
        figures,
        metrics,
        budget,
        checks,
        recommendations: data.recommendations,
        risks: data.risks,
        alert_ids: alertIds,
      },
      usage,
      context: encoded,
    };
  },
};
