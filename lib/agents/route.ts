import { verifySession } from "../auth/session";
import { ApiError, toApiError } from "../http/errors";
import { type FunctionExports, type RequestContext, route } from "../http/handler";
import { reply } from "../http/responses";
import { dispatchTask } from "../tasks/dispatch";
import {
  claimTask,
  failTask,
  idempotencyKey,
  loadTask,
  publicTask,
  requestHash,
  storedError,
} from "../tasks/store";
import { admitRun } from "./admission";
import { type AgentCaller, isAgentToken, verifyAgentToken } from "./internal-jwt";
import { type AgentResult, taskAccepted, taskCompleted } from "./responses";
import { type AgentDefinition, type AgentRequest, executeTask, type FanOutAgent } from "./runtime";

/** Who is calling: a signed-in user (Supabase session) or another agent acting for one. */
async function authenticate(
  request: Request,
  agent: AgentDefinition["name"],
): Promise<AgentCaller | { userId: string }> {
  const token = (request.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "");
  if (token && isAgentToken(token)) {
    return verifyAgentToken(token, agent);
  }
  const user = await verifySession(request);
  return { userId: user.id };
}

/** The checks every agent call passes before a task exists, and the claim of the task. */
async function admit<I extends AgentRequest>(
  ctx: RequestContext,
  agent: AgentDefinition<I> | FanOutAgent<I>,
) {
  const caller = await authenticate(ctx.request, agent.name);
  const body = await ctx.json(agent.input);
  if (body.user_id.toLowerCase() !== caller.userId) {
    throw new ApiError("forbidden", "user_id must be the caller's own user");
  }
  // An agent acting for a user acts in the workspace its token names, never another.
  const named = "workspaceId" in caller ? caller.workspaceId : body.workspace_id;
  if ("workspaceId" in caller && body.workspace_id && body.workspace_id.toLowerCase() !== named) {
    throw new ApiError("forbidden", "workspace_id must be the workspace the calling agent acts in");
  }
  const { workspace, limits } = await admitRun(agent.name, caller.userId, named, body);
  const background = agent.kind === "fan-out" || body.async === true;
  const claim = await claimTask({
    workspaceId: workspace.id,
    userId: caller.userId,
    agent: agent.name,
    input: body as Record<string, unknown>,
    key: idempotencyKey(ctx.request, body.external_id),
    hash: requestHash(body),
    status: agent.kind === "fan-out" ? "processing" : body.async ? "queued" : "processing",
    parentTaskId: "parentTaskId" in caller ? caller.parentTaskId : undefined,
    admitted: "api",
    // A fan-out task runs for minutes; a retry of its request is answered with the task, not run again.
    runningIsReplay: agent.kind === "fan-out",
  });
  return { caller, body, limits, claim, background, workspace };
}

const replayed = { "idempotent-replayed": "true" };

/**
 * `POST /api/agents/{name}` for an agent that starts background jobs: 202 with the task once its
 * jobs are published; progress and the result arrive through Realtime on agent_tasks and alerts.
 */
function fanOutRoute<I extends AgentRequest>(agent: FanOutAgent<I>): FunctionExports {
  return route(`/api/agents/${agent.name}`, {
    POST: async (ctx) => {
      const { body, limits, claim, workspace } = await admit(ctx, agent);
      if (claim.kind === "replay") {
        return reply(taskAccepted, { success: true, data: { task: publicTask(claim.task) } }, 202, {
          ...limits,
          ...replayed,
        });
      }
      try {
        await agent.start({
          user: { id: claim.task.user_id },
          workspace,
          task: claim.task,
          input: { ...body, workspace_id: workspace.id },
          log: ctx.log,
        });
      } catch (thrown) {
        const error = toApiError(thrown);
        await failTask(claim.task.id, error);
        throw error;
      }
      const task = await loadTask(claim.task.id);
      return reply(
        taskAccepted,
        { success: true, data: { task: publicTask(task ?? claim.task) } },
        202,
        limits,
      );
    },
  });
}

/**
 * `POST /api/agents/{name}`: authenticate, validate, rate-limit, claim the task under the
 * idempotency key, then run it now (200 `{ task, result }`) or in the background (202 `{ task }`).
 */
export function agentRoute<I extends AgentRequest>(
  agent: AgentDefinition<I> | FanOutAgent<I>,
): FunctionExports {
  if (agent.kind === "fan-out") {
    return fanOutRoute(agent);
  }
  return route(`/api/agents/${agent.name}`, {
    POST: async (ctx) => {
      const { body, limits, claim, workspace } = await admit(ctx, agent);

      if (claim.kind === "replay") {
        if (claim.task.status !== "completed") {
          const error = storedError(claim.task);
          throw new ApiError(error.code, error.message, {
            details: error.details,
            headers: replayed,
          });
        }
        // A completed task's output is the result it was completed with (executeTask stores it), so
        // the stored JSON has the result's type; replaying it must not re-judge an old answer.
        const result = claim.task.output as AgentResult;
        return reply(taskCompleted, { success: true, data: { task: publicTask(claim.task), result } }, 200, {
          ...limits,
          ...replayed,
        });
      }

      if (body.async) {
        try {
          await dispatchTask(claim.task.id);
        } catch (error) {
          await failTask(claim.task.id, error as ApiError);
          throw error;
        }
        return reply(taskAccepted, { success: true, data: { task: publicTask(claim.task) } }, 202, limits);
      }

      const { task, result } = await executeTask(agent, claim.task, workspace, ctx.log);
      return reply(taskCompleted, { success: true, data: { task: publicTask(task), result } }, 200, limits);
    },
  });
}
