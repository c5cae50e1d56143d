import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import { z } from "zod";
import { campaigns } from "../db/schema";
import { serviceDb } from "../db/service";
import { log } from "../log";
import { appUrl } from "../queue";
import { signAgentToken } from "./internal-jwt";
import {
  type AgentDefinition,
  agentRequest,
  askModel,
  recentCampaigns,
  recentInsights,
  recentLeads,
  recentTasksOf,
  type Scope,
} from "./runtime";

const marketingRequest = agentRequest.extend({
  context: z
    .object({
      platforms: z.array(z.string().max(40)).max(13).optional(),
      content_type: z.string().max(80).optional(),
    })
    .catchall(z.unknown())
    .optional(),
});
type MarketingRequest = z.infer<typeof marketingRequest>;

const campaignSchema = z.object({
  name: z.string(),
  channel: z.string().describe("One channel, e.g. email, linkedin, instagram, blog"),
  audience: z.string(),
  message: z.string().describe("The core message for this audience on this channel"),
  schedule: z.object({
    start_date: z.string().nullable().describe("YYYY-MM-DD or null"),
    cadence: z.string(),
    duration_weeks: z.number().int().nullable(),
  }),
  kpis: z.array(z.object({ metric: z.string(), target: z.string() })),
});

const answerSchema = z.object({
  response: z.string().describe("The strategy, explained to the user"),
  campaigns: z.array(campaignSchema).describe("One to five campaigns, one channel each"),
});

const system = `You are Ryan, the marketing strategist of a small business's AI team.
Plan campaigns per channel with a precise audience, a message, a schedule and measurable KPIs,
grounded in the product insights, leads and past campaigns in the context. Reply with JSON only,
matching the schema.`;

const slug = (channel: string) =>
  channel
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .slice(0, 32) || "other";

export function campaignFingerprint(name: string, channel: string): string {
  return createHash("sha256")
    .update(`${name.toLowerCase().replace(/\s+/g, " ").trim()}|${slug(channel)}`)
    .digest("hex")
    .slice(0, 32);
}

/**
 * How long the strategist waits for the Product Manager. Its own model call comes after, so the
 * two together must fit the function's maxDuration (checked in test/config.test.ts).
 */
export const consultationTimeoutMs = 45_000;

/**
 * Asks the Product Manager, through its function endpoint and a single-use agent token, for the
 * insights marketing should build on. A failed consultation is logged and the plan goes on without.
 */
async function consultProductManager(scope: Scope, taskId: string, prompt: string) {
  const userId = scope.user.id;
  try {
    const token = await signAgentToken("product-manager", {
      userId,
      workspaceId: scope.workspace.id,
      from: "marketing-strategist",
      parentTaskId: taskId,
    });
    const response = await fetch(appUrl("/api/agents/product-manager"), {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "idempotency-key": `delegated-${taskId}`,
      },
      body: JSON.stringify({
        user_id: userId,
        workspace_id: scope.workspace.id,
        prompt: `The marketing strategist is planning: "${prompt.slice(0, 1000)}". Which product insights should marketing build on?`,
      }),
      signal: AbortSignal.timeout(consultationTimeoutMs),
    });
    const body = (await response.json()) as {
      data?: { task: { id: string }; result: { insights?: unknown[] } };
    };
    if (!response.ok || !body.data) {
      log.warn({ status: response.status, taskId }, "product manager consultation failed");
      return undefined;
    }
    return { taskId: body.data.task.id, insights: body.data.result.insights ?? [] };
  } catch (error) {
    log.warn({ err: error, taskId }, "product manager consultation failed");
    return undefined;
  }
}

export const marketingStrategist: AgentDefinition<MarketingRequest> = {
  name: "marketing-strategist",
  summary: "Campaigns per channel with audience, message, schedule and KPIs, kept in campaigns as drafts",
  input: marketingRequest,
  async run({ user, workspace, task, input }) {
    const scope = { user, workspace };
    let insights = await recentInsights(scope, 10, 7);
    let delegation: { taskId: string; insights: unknown[] } | undefined;
    if (insights.length === 0) {
      delegation = await consultProductManager(scope, task.id, input.prompt);
      if (delegation) {
        insights = await recentInsights(scope, 10, 7);
      }
    }
    const [memory, leads, pastCampaigns] = await Promise.all([
      recentTasksOf(scope, "marketing-strategist"),
      recentLeads(scope, 20),
      recentCampaigns(scope, 10),
    ]);
    const channels = input.context?.platforms?.length
      ? `\n\nPlan for these channels: ${input.context.platforms.join(", ")}.`
      : "";
    const { data, usage, encoded } = await askModel({
      agent: "marketing-strategist",
      workspaceId: workspace.id,
      userId: user.id,
      schema: answerSchema,
      schemaName: "marketing_campaigns",
      temperature: 0.8,
      maxTokens: 3000,
      system,
      context: {
        earlier_conversations: memory,
        product_insights: insights,
        leads,
        past_campaigns: pastCampaigns,
        ...(input.context ? { from_user: input.context } : {}),
      },
      prompt: `${input.prompt}${channels}`,
    });

    const db = await serviceDb();
    const ids: string[] = [];
    for (const campaign of data.campaigns.slice(0, 5)) {
      const name = campaign.name.trim().slice(0, 300) || "Untitled campaign";
      const channel = slug(campaign.channel);
      const values = {
        workspace_id: workspace.id,
        user_id: user.id,
        task_id: task.id,
        name,
        channel,
        status: "draft" as const,
        audience: campaign.audience.slice(0, 2000),
        message: campaign.message.slice(0, 4000),
        schedule: campaign.schedule,
        kpis: campaign.kpis.slice(0, 10),
        fingerprint: campaignFingerprint(name, channel),
      };
      const [row] = await db
        .insert(campaigns)
        .values(values)
        .onConflictDoUpdate({
          target: [campaigns.workspace_id, campaigns.fingerprint],
          set: {
            audience: values.audience,
            message: values.message,
            schedule: values.schedule,
            kpis: values.kpis,
            task_id: task.id,
            updated_at: sql`now()`,
          },
        })
        .returning({ id: campaigns.id });
      if (row) {
        ids.push(row.id);
      }
    }
    return {
      result: { response: data.response, campaigns: data.campaigns, campaign_ids: ids },
      usage,
      context: encoded,
      metadata: delegation ? { delegated_to: { agent: "product-manager", task_id: delegation.taskId } } : {},
    };
  },
};
