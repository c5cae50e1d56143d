import { z } from "zod";
import { ApiError, toApiError } from "../http/errors";
import { json, type RequestContext } from "../http/handler";
import { tryLock } from "../lock";
import { invalidJob, type QStashDelivery, readJob } from "../queue";
import { dispatchRetries } from "../tasks/dispatch";
import type { TaskMetadata } from "../tasks/metadata";
import {
  failTask,
  loadTask,
  markAdmitted,
  returnToQueue,
  type TaskRow,
  takeQueuedTask,
  taskError,
} from "../tasks/store";
import { resolveWorkspace, type WorkspaceAccess } from "../workspaces/access";
import { admitQueuedTask } from "./admission";
import { hasAgent, loadAgent } from "./registry";
import { type Agent, executeTask, taskInput } from "./runtime";

const job = z.object({ task_id: z.uuid(), phase: z.enum(["run", "finish"]).default("run") });

/**
 * The workspace a claimed task runs in. A task the API admitted only needs its member to still be
 * in the workspace; any other (a frontend insert, an automatic run) passes the full admission here:
 * its input validated with the agent's schema, the rate limit and the budget. A refusal is final.
 */
async function admitted(agent: Agent, task: TaskRow): Promise<WorkspaceAccess> {
  if ((task.metadata as TaskMetadata).admitted_at) {
    try {
      return await resolveWorkspace(task.user_id, task.workspace_id);
    } catch (thrown) {
      // A member who has left the workspace since: the task can never run for them.
      const error = toApiError(thrown);
      throw error.retryable ? error : new ApiError(error.code, error.message, { retryable: false });
    }
  }
  const { workspace } = await admitQueuedTask(agent, task);
  await markAdmitted(task.id);
  return workspace;
}

/**
 * `POST /api/workers/agent`: runs one queued task. Idempotent under redelivery: a finished task is
 * acknowledged, one another message is running answers 409 (QStash delivers again later), and only
 * the delivery that moves it from queued to processing (or a redelivery of that same message) runs
 * it. Transient failures answer 503 until the last retry, so QStash retries them; permanent ones
 * (refused admission included) are recorded on the task and acknowledged.
 */
export async function runAgentJob(ctx: RequestContext & { delivery: QStashDelivery }): Promise<Response> {
  const parsed = await readJob(ctx, job, "agent");
  if (!parsed) {
    return invalidJob();
  }
  const { task_id: taskId, phase } = parsed;
  if (phase === "finish") {
    return finishFanOut(taskId, ctx);
  }
  const claimed = await takeQueuedTask(taskId, ctx.delivery.messageId);
  if (!claimed) {
    const task = await loadTask(taskId);
    if (task?.status === "processing") {
      throw new ApiError("conflict", "The task is already running", { headers: { "retry-after": "10" } });
    }
    return json({
      success: true,
      data: { outcome: task ? "already_done" : "no_such_task", status: task?.status },
    });
  }
  if (!hasAgent(claimed.agent_name)) {
    await failTask(
      taskId,
      new ApiError("internal_error", `No agent ${claimed.agent_name} in this deployment`, {
        retryable: false,
      }),
    );
    return json({ success: true, data: { outcome: "failed" } });
  }
  const agent = await loadAgent(claimed.agent_name);
  try {
    const workspace = await admitted(agent, claimed);
    if (agent.kind === "fan-out") {
      // A task queued for an agent that fans out (by the frontend): publish its jobs; it finishes later.
      await agent.start({
        user: { id: claimed.user_id },
        workspace,
        task: claimed,
        input: taskInput(agent, claimed),
        log: ctx.log,
      });
      return json({ success: true, data: { outcome: "started", task_id: claimed.id } });
    }
    // A transient failure is recorded only on the last delivery; before it, the task goes back to queued.
    const { task } = await executeTask(agent, claimed, workspace, ctx.log, {
      recordTransient: ctx.delivery.retried >= dispatchRetries,
    });
    return json({ success: true, data: { outcome: "completed", task_id: task.id } });
  } catch (thrown) {
    // A zod failure anywhere in the run is invalid input: permanent, never retried.
    const error = taskError(thrown);
    if (error.retryable && ctx.delivery.retried < dispatchRetries) {
      // Back in the queue for the next delivery, which QStash makes because of the 503.
      await returnToQueue(taskId);
      throw new ApiError("service_unavailable", `Transient failure, will retry: ${error.message}`, {
        headers: { "retry-after": "30" },
      });
    }
    // executeTask records its own failures; a refused admission or a fan-out start is recorded here.
    const current = await loadTask(taskId);
    if (current?.status === "processing") {
      await failTask(taskId, error);
    }
    return json({ success: true, data: { outcome: "failed", error: error.message, code: error.code } });
  }
}

/**
 * The last step of a fan-out task, once its jobs have all reported. Runs under a lock so a
 * redelivery racing a slow first delivery waits its turn; a finished task is acknowledged.
 */
async function finishFanOut(taskId: string, ctx: RequestContext & { delivery: QStashDelivery }) {
  const task = await loadTask(taskId);
  if (task?.status !== "processing") {
    return json({
      success: true,
      data: { outcome: task ? "already_done" : "no_such_task", status: task?.status },
    });
  }
  const agent = hasAgent(task.agent_name) ? await loadAgent(task.agent_name) : undefined;
  if (agent?.kind !== "fan-out") {
    await failTask(
      taskId,
      new ApiError("internal_error", `No fan-out agent ${task.agent_name} in this deployment`),
    );
    return json({ success: true, data: { outcome: "failed" } });
  }
  const lock = await tryLock(`finish:${taskId}`, 280_000);
  if (!lock) {
    throw new ApiError("conflict", "The task is being finished", { headers: { "retry-after": "30" } });
  }
  try {
    await agent.finish(task, ctx.log.child({ taskId }));
    return json({ success: true, data: { outcome: "completed", task_id: taskId } });
  } catch (thrown) {
    const error = taskError(thrown);
    if (error.retryable && ctx.delivery.retried < dispatchRetries) {
      throw new ApiError("service_unavailable", `Transient failure, will retry: ${error.message}`, {
        headers: { "retry-after": "30" },
      });
    }
    await failTask(taskId, error);
    return json({ success: true, data: { outcome: "failed", error: error.message } });
  }
}
