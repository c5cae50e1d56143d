import { and, eq, or, sql } from "drizzle-orm";
import { z } from "zod";
import { agentTasks } from "../db/schema";
import { serviceDb } from "../db/service";
import { ApiError, toApiError } from "../http/errors";
import { json, type RequestContext } from "../http/handler";
import { tryLock } from "../lock";
import { invalidJob, type QStashDelivery, readJob } from "../queue";
import { dispatchRetries } from "./dispatch";
import { hasAgent, loadAgent } from "./registry";
import { executeTask } from "./runtime";
import { failTask } from "./tasks";

const job = z.object({ task_id: z.uuid(), phase: z.enum(["run", "finish"]).default("run") });

/**
 * `POST /api/workers/agent`: runs one queued task. Idempotent under redelivery: a finished task is
 * acknowledged, one another message is running answers 409 (QStash delivers again later), and only
 * the delivery that moves it from queued to processing (or a redelivery of that same message) runs it. Transient failures answer 503 until the last retry, so
 * QStash retries them; permanent ones are recorded on the task and acknowledged.
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
  const db = await serviceDb();
  const messageId = ctx.delivery.messageId;
  // QStash redelivers a message only after its previous delivery failed or timed out, so a task
  // left processing by an earlier delivery of this same message (one that died, or lost its
  // database mid-run) is taken over rather than waited on.
  const [claimed] = await db
    .update(agentTasks)
    .set({
      status: "processing",
      started_at: new Date().toISOString(),
      error: null,
      metadata: sql`${agentTasks.metadata} || ${JSON.stringify({ claimed_by: messageId })}::jsonb`,
    })
    .where(
      and(
        eq(agentTasks.id, taskId),
        or(
          eq(agentTasks.status, "queued"),
          messageId
            ? and(
                eq(agentTasks.status, "processing"),
                sql`${agentTasks.metadata} ->> 'claimed_by' = ${messageId}`,
              )
            : undefined,
        ),
      ),
    )
    .returning();
  if (!claimed) {
    const [task] = await db.select().from(agentTasks).where(eq(agentTasks.id, taskId));
    if (task?.status === "processing") {
      throw new ApiError("conflict", "The task is already running", { headers: { "retry-after": "10" } });
    }
    return json({
      success: true,
      data: { outcome: task ? "already_done" : "no_such_task", status: task?.status },
    });
  }
  if (!hasAgent(claimed.agent_name)) {
    await db
      .update(agentTasks)
      .set({ status: "failed", error: `No agent ${claimed.agent_name} in this deployment` })
      .where(eq(agentTasks.id, taskId));
    return json({ success: true, data: { outcome: "failed" } });
  }
  const agent = await loadAgent(claimed.agent_name);
  try {
    if (agent.kind === "fan-out") {
      // A task the frontend queued for an agent that fans out: publish its jobs; it finishes later.
      await agent.start({
        user: { id: claimed.user_id },
        task: claimed,
        input: agent.input.parse(claimed.input),
        log: ctx.log,
      });
      return json({ success: true, data: { outcome: "started", task_id: claimed.id } });
    }
    const { task } = await executeTask(agent, claimed, ctx.log);
    return json({ success: true, data: { outcome: "completed", task_id: task.id } });
  } catch (thrown) {
    const error = toApiError(thrown);
    if (error.retryable && ctx.delivery.retried < dispatchRetries) {
      // Back in the queue for the next delivery, which QStash makes because of the 503.
      await db.update(agentTasks).set({ status: "queued" }).where(eq(agentTasks.id, taskId));
      throw new ApiError("service_unavailable", `Transient failure, will retry: ${error.message}`, {
        headers: { "retry-after": "30" },
      });
    }
    if (agent.kind === "fan-out") {
      await failTask(taskId, error);
    }
    return json({ success: true, data: { outcome: "failed", error: error.message } });
  }
}

/**
 * The last step of a fan-out task, once its jobs have all reported. Runs under a lock so a
 * redelivery racing a slow first delivery waits its turn; a finished task is acknowledged.
 */
async function finishFanOut(taskId: string, ctx: RequestContext & { delivery: QStashDelivery }) {
  const db = await serviceDb();
  const [task] = await db.select().from(agentTasks).where(eq(agentTasks.id, taskId));
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
    const error = toApiError(thrown);
    if (error.retryable && ctx.delivery.retried < dispatchRetries) {
      throw new ApiError("service_unavailable", `Transient failure, will retry: ${error.message}`, {
        headers: { "retry-after": "30" },
      });
    }
    await failTask(taskId, error);
    return json({ success: true, data: { outcome: "failed", error: error.message } });
  } finally {
    await lock.release();
  }
}
