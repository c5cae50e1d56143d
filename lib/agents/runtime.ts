import { and, desc, eq, gte } from "drizzle-orm";
import { z } from "zod";
import { asUser } from "../db/as-user";
import {
  type AgentName,
  agentTasks,
  type calendarEvents,
  campaigns,
  leads,
  productInsights,
} from "../db/schema";
import { ApiError } from "../http/errors";
import { type ChatMessage, completeStructured, type Usage } from "../llm/complete";
import { dataBlock } from "../llm/prompt";
import type { Logger } from "../log";
import { completeTask, failTask, InvalidTaskInput, type TaskRow, taskError } from "../tasks/store";
import { type EncodedContext, encodeContext } from "../toon";
import type { WorkspaceAccess } from "../workspaces/access";

/** The body every agent endpoint accepts (the prototype's `AgentRequest`), before its own fields. */
export const agentRequest = z.object({
  user_id: z.uuid(),
  workspace_id: z.uuid().optional().meta({
    description:
      "The workspace to act in (you must be a member); default: your only workspace, else your personal one",
  }),
  prompt: z.string().trim().min(1).max(8000),
  context: z.record(z.string(), z.unknown()).optional(),
  external_id: z.string().min(1).max(255).optional(),
  async: z
    .boolean()
    .optional()
    .meta({ description: "Run in the background: 202 with the task, progress by Realtime" }),
  language: z.string().max(40).optional(),
});
export type AgentRequest = z.infer<typeof agentRequest>;

export interface RunContext<I extends AgentRequest> {
  user: { id: string };
  /** The workspace the task runs in, and the member's role there (checked at admission). */
  workspace: WorkspaceAccess;
  task: TaskRow;
  input: I;
  log: Logger;
}

export interface AgentOutcome {
  /** What the API returns as `result` and the task stores as `output`. */
  result: Record<string, unknown> & { response: string };
  usage: Usage;
  context?: EncodedContext | undefined;
  metadata?: Record<string, unknown>;
}

export interface AgentDefinition<I extends AgentRequest = AgentRequest> {
  kind?: "inline";
  name: AgentName;
  summary: string;
  input: z.ZodType<I>;
  run(ctx: RunContext<I>): Promise<AgentOutcome>;
}

/**
 * An agent whose work outlives any one function: `start` publishes its background jobs (the task
 * stays `processing`, the caller gets 202), and `finish` runs once, in the agent worker, after every
 * job has reported; it completes the task.
 */
export interface FanOutAgent<I extends AgentRequest = AgentRequest> {
  kind: "fan-out";
  name: AgentName;
  summary: string;
  input: z.ZodType<I>;
  start(ctx: RunContext<I>): Promise<void>;
  finish(task: TaskRow, log: Logger): Promise<void>;
}

export type Agent = AgentDefinition | FanOutAgent;

/**
 * A task's input as its agent reads it, validated by the agent's endpoint schema: the stored input
 * with the member and the workspace taken from the row, whatever the input says (a frontend insert's
 * input cannot speak for anyone else, and need not name them). A refusal is `InvalidTaskInput`,
 * permanent for the task.
 */
export function taskInput<I extends AgentRequest>(agent: { input: z.ZodType<I> }, task: TaskRow): I {
  const parsed = agent.input.safeParse({
    ...(task.input as Record<string, unknown>),
    user_id: task.user_id,
    workspace_id: task.workspace_id,
  });
  if (!parsed.success) {
    throw new InvalidTaskInput(parsed.error);
  }
  return parsed.data;
}

/** What the task records of how its context was encoded. */
export function contextMetadata(context: EncodedContext | undefined) {
  return context
    ? {
        context_tokens: {
          format: context.format,
          json_tokens: context.json_tokens,
          compact_json_tokens: context.compact_json_tokens,
          toon_tokens: context.toon_tokens,
          savings_percent: context.savings_percent,
        },
      }
    : {};
}

/**
 * Runs a claimed task to its end: completed with its output and usage, or failed with the reason.
 * `recordTransient: false` leaves a failure a retry could fix unrecorded (the worker puts the task
 * back in the queue for QStash's next delivery, so the task never shows failed in between).
 */
export async function executeTask<I extends AgentRequest>(
  agent: AgentDefinition<I>,
  task: TaskRow,
  workspace: WorkspaceAccess,
  log: Logger,
  options: { recordTransient?: boolean } = {},
): Promise<{ task: TaskRow; result: AgentOutcome["result"] }> {
  try {
    const input = taskInput(agent, task);
    const outcome = await agent.run({
      user: { id: task.user_id },
      workspace,
      task,
      input,
      log: log.child({ taskId: task.id }),
    });
    const done = await completeTask(task.id, {
      output: outcome.result,
      usage: outcome.usage,
      metadata: { ...outcome.metadata, ...contextMetadata(outcome.context) },
    });
    return { task: done, result: outcome.result };
  } catch (thrown) {
    const error = taskError(thrown);
    log.warn({ taskId: task.id, code: error.code, err: thrown }, "task failed");
    if (!error.retryable || options.recordTransient !== false) {
      await failTask(task.id, error);
    }
    throw error;
  }
}

/** The system message that carries context: TOON or compact JSON, whichever is cheaper. */
async function contextMessage(
  value: Record<string, unknown>,
): Promise<{ message: ChatMessage; encoded: EncodedContext }> {
  const encoded = await encodeContext(value);
  const label = encoded.format === "toon" ? "TOON (token-oriented object notation)" : "JSON";
  return {
    encoded,
    message: {
      role: "system",
      content: dataBlock(`Context about this business, as ${label},`, encoded.text),
    },
  };
}

export interface AskRequest<S extends z.ZodType> {
  agent: AgentName;
  workspaceId: string;
  userId: string;
  /** The agent's persona and rules. */
  system: string;
  /** Data for the prompt, sent as TOON or compact JSON. */
  context: Record<string, unknown>;
  prompt: string;
  schema: S;
  schemaName: string;
  temperature: number;
  maxTokens: number;
}

/** One agent turn: persona, encoded context, the user's prompt; a validated structured answer. */
export async function askModel<S extends z.ZodType>(request: AskRequest<S>) {
  const { message, encoded } = await contextMessage(request.context);
  const { data, usage } = await completeStructured({
    agent: request.agent,
    workspaceId: request.workspaceId,
    userId: request.userId,
    schema: request.schema,
    schemaName: request.schemaName,
    temperature: request.temperature,
    maxTokens: request.maxTokens,
    messages: [
      { role: "system", content: request.system },
      message,
      { role: "user", content: request.prompt },
    ],
  });
  return { data, usage, encoded };
}

type OwnedTable = typeof leads | typeof campaigns | typeof calendarEvents;

/**
 * One row of the task's workspace by id, read as the member under RLS; 404 when it does not exist or
 * belongs to another workspace (the two are not told apart).
 */
export async function ownRow<T extends OwnedTable>(
  ctx: { user: { id: string }; workspace: { id: string } },
  table: T,
  id: string,
  noun: string,
): Promise<T["$inferSelect"]> {
  // The three tables share the id/workspace_id columns the query uses; one concrete type drives the builder.
  const owned = table as typeof leads;
  const [row] = await asUser({ id: ctx.user.id }, (tx) =>
    tx
      .select()
      .from(owned)
      .where(and(eq(owned.id, id), eq(owned.workspace_id, ctx.workspace.id))),
  );
  if (!row) {
    throw new ApiError("not_found", `No such ${noun} in this workspace`);
  }
  return row as T["$inferSelect"];
}

const truncate = (text: unknown, max: number) => {
  const value =
    typeof text === "string" ? text : text === undefined || text === null ? "" : JSON.stringify(text);
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
};

/** Whose rows an agent reads: the member, in the task's workspace. */
export interface Scope {
  user: { id: string };
  workspace: { id: string };
}

/** The agent's memory: the member's recent completed tasks of that agent in this workspace, oldest first. */
export async function recentTasksOf(scope: Scope, agent: AgentName, limit = 5) {
  const rows = await asUser({ id: scope.user.id }, (tx) =>
    tx
      .select({ input: agentTasks.input, output: agentTasks.output, created_at: agentTasks.created_at })
      .from(agentTasks)
      .where(
        and(
          eq(agentTasks.workspace_id, scope.workspace.id),
          eq(agentTasks.user_id, scope.user.id),
          eq(agentTasks.agent_name, agent),
          eq(agentTasks.status, "completed"),
        ),
      )
      .orderBy(desc(agentTasks.created_at))
      .limit(limit),
  );
  return rows.reverse().map((row) => ({
    at: row.created_at.slice(0, 16),
    asked: truncate((row.input as { prompt?: string }).prompt, 300),
    answered: truncate((row.output as { response?: string } | null)?.response, 400),
  }));
}

export async function recentInsights(scope: Scope, limit = 10, sinceDays?: number) {
  return asUser({ id: scope.user.id }, (tx) =>
    tx
      .select({
        title: productInsights.title,
        content: productInsights.content,
        priority: productInsights.priority,
        tags: productInsights.tags,
        created_at: productInsights.created_at,
      })
      .from(productInsights)
      .where(
        and(
          eq(productInsights.workspace_id, scope.workspace.id),
          sinceDays
            ? gte(productInsights.created_at, new Date(Date.now() - sinceDays * 86_400_000).toISOString())
            : undefined,
        ),
      )
      .orderBy(desc(productInsights.created_at))
      .limit(limit),
  ).then((rows) =>
    rows.map((row) => ({ ...row, content: truncate(row.content, 300), tags: row.tags.join(" ") })),
  );
}

export async function recentLeads(scope: Scope, limit = 20) {
  return asUser({ id: scope.user.id }, (tx) =>
    tx
      .select({
        company: leads.company,
        role: leads.role,
        industry: leads.industry,
        location: leads.location,
        score: leads.score,
        status: leads.status,
      })
      .from(leads)
      .where(eq(leads.workspace_id, scope.workspace.id))
      .orderBy(desc(leads.score))
      .limit(limit),
  );
}

export async function recentCampaigns(scope: Scope, limit = 10) {
  return asUser({ id: scope.user.id }, (tx) =>
    tx
      .select({
        name: campaigns.name,
        channel: campaigns.channel,
        status: campaigns.status,
        audience: campaigns.audience,
        created_at: campaigns.created_at,
      })
      .from(campaigns)
      .where(eq(campaigns.workspace_id, scope.workspace.id))
      .orderBy(desc(campaigns.created_at))
      .limit(limit),
  ).then((rows) =>
    rows.map((row) => ({
      ...row,
      audience: truncate(row.audience, 200),
      created_at: row.created_at.slice(0, 10),
    })),
  );
}
