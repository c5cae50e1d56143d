import type { z } from "zod";
import { getConfig } from "../config";
import type { AgentName } from "../db/schema";
import { ApiError, fromZodError } from "../http/errors";
import { rateLimit } from "../http/ratelimit";
import { assertBudget } from "../llm/budget";
import { getLlm } from "../llm/client";
import type { TaskRow } from "../tasks/store";
import { resolveWorkspace, type WorkspaceAccess } from "../workspaces/access";
import type { AgentRequest } from "./runtime";

/**
 * The one admission every agent run passes, whatever started it (an API call, a task the frontend
 * inserted, a schedule, the calendar): the member is in the workspace, a model is configured, the
 * member's rate limit for the agent and the daily budget allow it. Refusals are ApiErrors that say
 * whether a retry could help.
 */
export async function admitRun(
  agent: AgentName,
  userId: string,
  workspaceId: string | undefined,
): Promise<{ workspace: WorkspaceAccess; limits: Record<string, string> }> {
  const workspace = await resolveWorkspace(userId, workspaceId);
  getLlm(); // 503 llm_not_configured before anything is stored
  const limits = await rateLimit(`agent:${agent}`, userId, getConfig().AGENT_RATE_LIMIT_PER_MINUTE);
  await assertBudget(userId);
  return { workspace, limits };
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
  const parsed = agent.input.safeParse({
    ...(task.input as Record<string, unknown>),
    user_id: task.user_id,
    workspace_id: task.workspace_id,
  });
  if (!parsed.success) {
    throw final(fromZodError(parsed.error, "input"));
  }
  try {
    const { workspace } = await admitRun(agent.name, task.user_id, task.workspace_id);
    return { input: parsed.data, workspace };
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
