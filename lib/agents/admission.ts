import type { z } from "zod";
import { getConfig } from "../config";
import type { AgentName } from "../db/schema";
import { ApiError } from "../http/errors";
import { rateLimit } from "../http/ratelimit";
import { assertBudget } from "../llm/budget";
import { assertModelConfigured } from "../llm/client";
import { tokenBound } from "../llm/tokens";
import { InvalidTaskInput, type TaskRow } from "../tasks/store";
import { resolveWorkspace, type WorkspaceAccess } from "../workspaces/access";
import { hasAgent, loadAgent, modelOptional } from "./registry";
import { type AgentRequest, taskInput } from "./runtime";

/**
 * The one admission every agent run passes, whatever started it (an API call, a task the frontend
 * inserted, a schedule, the calendar): the member is in the workspace, a model is configured (unless
 * the agent's model is optional enrichment: lead generation scores by its rules without one), the
 * member's rate limit for the agent and the daily budgets allow it, and the input fits the caps.
 * Refusals are ApiErrors that say whether a retry could help.
 */
export async function admitRun(
  agent: AgentName,
  userId: string,
  workspaceId: string | undefined,
  input: AgentRequest,
): Promise<{ workspace: WorkspaceAccess; limits: Record<string, string> }> {
  await assertInputCaps(input);
  const workspace = await resolveWorkspace(userId, workspaceId);
  if (!modelOptional.has(agent)) {
    assertModelConfigured(); // 503 llm_not_configured before anything is stored
  }
  const limits = await rateLimit(`agent:${agent}`, userId, getConfig().AGENT_RATE_LIMIT_PER_MINUTE);
  await assertBudget({ workspaceId: workspace.id, userId });
  return { workspace, limits };
}

/**
 * What a caller may put into a prompt: the body's prompt is bounded by the schema (8,000
 * characters); `context` goes to the model whole, so it is bounded here in bytes and in tokens,
 * with a 413 that names it. The prompt as built is bounded again at call time.
 */
export async function assertInputCaps(input: AgentRequest): Promise<void> {
  if (input.context === undefined) {
    return;
  }
  const config = getConfig();
  const text = JSON.stringify(input.context);
  const bytes = Buffer.byteLength(text);
  if (bytes > config.AGENT_MAX_CONTEXT_BYTES) {
    throw new ApiError(
      "payload_too_large",
      `context is ${bytes} bytes as JSON; at most ${config.AGENT_MAX_CONTEXT_BYTES} are accepted`,
      { details: { field: "context", bytes, limit_bytes: config.AGENT_MAX_CONTEXT_BYTES } },
    );
  }
  const tokens = await tokenBound(text);
  if (tokens > config.AGENT_MAX_CONTEXT_TOKENS) {
    throw new ApiError(
      "payload_too_large",
      `context is about ${tokens} tokens; at most ${config.AGENT_MAX_CONTEXT_TOKENS} are accepted`,
      { details: { field: "context", tokens, limit_tokens: config.AGENT_MAX_CONTEXT_TOKENS } },
    );
  }
}

/**
 * The first check of a task the frontend inserted, made when its database event arrives, before
 * anything is published: its input against the schema of the agent's own endpoint (the same zod
 * object, `taskInput`), the member and the workspace taken from the row. Returns the refusal, or
 * undefined when the input is valid (or the agent is not in this deployment: the worker fails it).
 */
export async function refusedInput(task: TaskRow): Promise<InvalidTaskInput | undefined> {
  if (!hasAgent(task.agent_name)) {
    return undefined;
  }
  try {
    taskInput(await loadAgent(task.agent_name), task);
    return undefined;
  } catch (error) {
    if (error instanceof InvalidTaskInput) {
      return error;
    }
    throw error;
  }
}

/**
 * Admission of a task that did not come through the API (a frontend insert, an automatic run): its
 * input is validated with the agent's own schema, the member and the workspace taken from the row.
 * Every refusal is final for this task (a rate-limited or invalid task is never retried as transient).
 */
export async function admitQueuedTask<I extends AgentRequest>(
  agent: { name: AgentName; input: z.ZodType<I> },
  task: TaskRow,
): Promise<{ input: I; workspace: WorkspaceAccess }> {
  // An invalid input throws InvalidTaskInput: permanent, recorded as `invalid_input`.
  const input = taskInput(agent, task);
  try {
    const { workspace } = await admitRun(agent.name, task.user_id, task.workspace_id, input);
    return { input, workspace };
  } catch (error) {
    if (error instanceof ApiError && error.code !== "service_unavailable") {
      throw final(error);
    }
    throw error;
  }
}

/** The error as a permanent outcome of the task (the worker records it and does not retry). */
function final(error: ApiError): ApiError {
  return new ApiError(error.code, error.message, { retryable: false, details: error.details });
}
