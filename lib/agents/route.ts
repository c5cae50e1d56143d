import { verifySession } from "../auth/session";
import { getConfig } from "../config";
import { ApiError } from "../http/errors";
import { type FunctionExports, json, route } from "../http/handler";
import { rateLimit } from "../http/ratelimit";
import { assertBudget } from "../llm/budget";
import { getLlm } from "../llm/client";
import { dispatchTask } from "./dispatch";
import { type AgentCaller, isAgentToken, verifyAgentToken } from "./internal-jwt";
import { type AgentDefinition, type AgentRequest, executeTask } from "./runtime";
import { claimTask, failTask, idempotencyKey, publicTask, requestHash, storedError } from "./tasks";

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

/**
 * `POST /api/agents/{name}`: authenticate, validate, rate-limit, claim the task under the
 * idempotency key, then run it now (200 `{ task, result }`) or in the background (202 `{ task }`).
 */
export function agentRoute<I extends AgentRequest>(agent: AgentDefinition<I>): FunctionExports {
  return route(`/api/agents/${agent.name}`, {
    POST: async (ctx) => {
      const caller = await authenticate(ctx.request, agent.name);
      const body = await ctx.json(agent.input);
      if (body.user_id.toLowerCase() !== caller.userId) {
        throw new ApiError("forbidden", "user_id must be the caller's own user");
      }
      getLlm(); // 503 llm_not_configured before anything is stored
      const limits = await rateLimit(
        `agent:${agent.name}`,
        caller.userId,
        getConfig().AGENT_RATE_LIMIT_PER_MINUTE,
      );
      await assertBudget(caller.userId);

      const claim = await claimTask({
        userId: caller.userId,
        agent: agent.name,
        input: body as Record<string, unknown>,
        key: idempotencyKey(ctx.request, body.external_id),
        hash: requestHash(body),
        status: body.async ? "queued" : "processing",
        parentTaskId: "parentTaskId" in caller ? caller.parentTaskId : undefined,
      });

      if (claim.kind === "replay") {
        if (claim.task.status !== "completed") {
          const error = storedError(claim.task);
          throw new ApiError(error.code, error.message, {
            details: error.details,
            headers: { "idempotent-replayed": "true" },
          });
        }
        return json(
          { success: true, data: { task: publicTask(claim.task), result: claim.task.output } },
          200,
          {
            ...limits,
            "idempotent-replayed": "true",
          },
        );
      }

      if (body.async) {
        try {
          await dispatchTask(claim.task.id);
        } catch (error) {
          await failTask(claim.task.id, error as ApiError);
          throw error;
        }
        return json({ success: true, data: { task: publicTask(claim.task) } }, 202, limits);
      }

      const { task, result } = await executeTask(agent, claim.task, ctx.log);
      return json({ success: true, data: { task: publicTask(task), result } }, 200, limits);
    },
  });
}
