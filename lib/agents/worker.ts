import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { agentTasks } from "../db/schema";
import { serviceDb } from "../db/service";
import { ApiError } from "../http/errors";
import { json, type RequestContext } from "../http/handler";
import type { QStashDelivery } from "../queue";
import { dispatchRetries } from "./dispatch";
import { hasAgent, loadAgent } from "./registry";
import { executeTask } from "./runtime";

const job = z.object({ task_id: z.uuid() });

/**
 * `POST /api/workers/agent`: runs one queued task. Idempotent under redelivery: a finished task is
 * acknowledged, a running one answers 409 (QStash delivers again later), and only the delivery that
 * moves it from queued to processing runs it. Transient failures answer 503 until the last retry, so
 * QStash retries them; permanent ones are recorded on the task and acknowledged.
 */
export async function runAgentJob(ctx: RequestContext & { delivery: QStashDelivery }): Promise<Response> {
  let taskId: string;
  try {
    taskId = job.parse(JSON.parse(await ctx.text())).task_id;
  } catch {
    ctx.log.error({ messageId: ctx.delivery.messageId }, "agent job with an invalid body dropped");
    return json({ success: true, data: { outcome: "invalid_job" } });
  }
  const db = await serviceDb();
  const [claimed] = await db
    .update(agentTasks)
    .set({ status: "processing", started_at: new Date().toISOString(), error: null })
    .where(and(eq(agentTasks.id, taskId), eq(agentTasks.status, "queued")))
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
  try {
    const { task } = await executeTask(await loadAgent(claimed.agent_name), claimed, ctx.log);
    return json({ success: true, data: { outcome: "completed", task_id: task.id } });
  } catch (thrown) {
    const error = thrown instanceof ApiError ? thrown : new ApiError("internal_error", String(thrown));
    if (error.retryable && ctx.delivery.retried < dispatchRetries) {
      // Back in the queue for the next delivery, which QStash makes because of the 503.
      await db.update(agentTasks).set({ status: "queued" }).where(eq(agentTasks.id, taskId));
      throw new ApiError("service_unavailable", `Transient failure, will retry: ${error.message}`, {
        headers: { "retry-after": "30" },
      });
    }
    return json({ success: true, data: { outcome: "failed", error: error.message } });
  }
}
