import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import { z } from "zod";
import { insightPriorities, productInsights } from "../db/schema";
import { serviceDb } from "../db/service";
import {
  type AgentDefinition,
  agentRequest,
  askModel,
  recentCampaigns,
  recentInsights,
  recentLeads,
  recentTasksOf,
} from "./runtime";

const insightSchema = z.object({
  title: z.string().describe("A short, specific headline"),
  content: z.string().describe("What was found and what to do about it"),
  tags: z.array(z.string()).describe("Up to five lower-case topic tags"),
  priority: z.enum(insightPriorities),
  evidence: z.array(z.string()).describe("The facts from the context or the question that support it"),
});

const answerSchema = z.object({
  response: z.string().describe("The answer to the user, in plain prose"),
  insights: z.array(insightSchema).describe("Zero to six durable product insights worth keeping"),
});

/** Same headline, same insight: repeated runs refine it instead of adding a copy. */
export function insightFingerprint(title: string): string {
  const normalised = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
  return createHash("sha256").update(normalised).digest("hex").slice(0, 32);
}

const system = `You are Alex, the product manager of a small business's AI team.
You turn questions, customer signals, leads and campaign results into product insights: specific,
evidence-backed, prioritised. Only state facts that the context or the question support, and list
them as evidence. Reply with JSON only, matching the schema.`;

export const productManager: AgentDefinition = {
  name: "product-manager",
  summary: "Product insights with title, content, tags, priority and evidence, kept in product_insights",
  input: agentRequest,
  async run({ user, workspace, task, input }) {
    const scope = { user, workspace };
    const [memory, insights, leads, campaigns] = await Promise.all([
      recentTasksOf(scope, "product-manager"),
      recentInsights(scope, 10),
      recentLeads(scope, 20),
      recentCampaigns(scope, 10),
    ]);
    const { data, usage, encoded } = await askModel({
      agent: "product-manager",
      workspaceId: workspace.id,
      userId: user.id,
      schema: answerSchema,
      schemaName: "product_insights",
      temperature: 0.7,
      maxTokens: 2500,
      system,
      context: {
        earlier_conversations: memory,
        known_insights: insights,
        leads,
        campaigns,
        ...(input.context ? { from_user: input.context } : {}),
      },
      prompt: input.prompt,
    });

    const db = await serviceDb();
    const kept: { id: string; title: string }[] = [];
    for (const insight of data.insights.slice(0, 6)) {
      const title = insight.title.trim().slice(0, 300) || "Untitled insight";
      const values = {
        workspace_id: workspace.id,
        user_id: user.id,
        task_id: task.id,
        title,
        content: insight.content.slice(0, 4000),
        tags: [
          ...new Set(insight.tags.map((tag) => tag.toLowerCase().trim().slice(0, 40)).filter(Boolean)),
        ].slice(0, 5),
        priority: insight.priority,
        source: "product-manager",
        evidence: insight.evidence.slice(0, 6).map((fact) => fact.slice(0, 500)),
        fingerprint: insightFingerprint(title),
      };
      const [row] = await db
        .insert(productInsights)
        .values(values)
        .onConflictDoUpdate({
          target: [productInsights.workspace_id, productInsights.fingerprint],
          set: {
            content: values.content,
            tags: values.tags,
            priority: values.priority,
            evidence: values.evidence,
            task_id: task.id,
            updated_at: sql`now()`,
          },
        })
        .returning({ id: productInsights.id, title: productInsights.title });
      if (row) {
        kept.push(row);
      }
    }
    return {
      result: { response: data.response, insights: data.insights, insight_ids: kept.map((row) => row.id) },
      usage,
      context: encoded,
    };
  },
};
