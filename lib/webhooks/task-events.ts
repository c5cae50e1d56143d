import { and, eq, inArray, sql } from "drizzle-orm";
import { z } from "zod";
import { dispatchTask, taskWebhookPath } from "../agents/dispatch";
import { titles } from "../agents/registry";
import { raiseAlert } from "../alerts";
import { agentNames, agentTasks } from "../db/schema";
import { serviceDb } from "../db/service";
import { fromZodError } from "../http/errors";
import { json, type RequestContext } from "../http/handler";
import { readQStashCallback } from "../queue";
import { processOnce } from "./dedupe";
import { verifyStandardWebhook } from "./standard";

export const taskEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("task.queued"),
    data: z.object({
      task_id: z.uuid(),
      user_id: z.uuid().optional(),
      agent_name: z.enum(agentNames).optional(),
    }),
  }),
  z.object({
    type: z.literal("task.progress"),
    data: z.object({
      task_id: z.uuid(),
      progress: z.number().min(0).max(100),
      message: z.string().max(500).optional(),
    }),
  }),
  z.object({
    type: z.literal("task.completed"),
    data: z.object({ task_id: z.uuid(), output: z.record(z.string(), z.unknown()).optional() }),
  }),
  z.object({
    type: z.literal("task.failed"),
    data: z.object({ task_id: z.uuid(), error: z.string().min(1).max(2000) }),
  }),
]);
export type TaskEvent = z.infer<typeof taskEvent>;

const unfinished = ["queued", "processing"] as const;

async function loadTask(taskId: string) {
  const db = await serviceDb();
  const [task] = await db.select().from(agentTasks).where(eq(agentTasks.id, taskId));
  return task;
}

async function alertOutcome(taskId: string): Promise<void> {
  const task = await loadTask(taskId);
  if (!task || (task.status !== "completed" && task.status !== "failed")) {
    return;
  }
  const title = titles[task.agent_name];
  await raiseAlert({
    userId: task.user_id,
    taskId: task.id,
    type: task.status === "completed" ? "task.completed" : "task.failed",
    severity: task.status === "completed" ? "info" : "warning",
    title: task.status === "completed" ? `${title} finished` : `${title} failed`,
    message:
      task.status === "completed"
        ? String((task.output as { response?: string } | null)?.response ?? "The task finished.").slice(
            0,
            500,
          )
        : (task.error ?? "The task failed."),
  });
}

/** Applies one verified task event. */
export async function applyTaskEvent(event: TaskEvent): Promise<"processed" | "ignored"> {
  const db = await serviceDb();
  const taskId = event.data.task_id;
  const task = await loadTask(taskId);
  if (!task) {
    return "ignored";
  }
  switch (event.type) {
    case "task.queued":
      if (task.status !== "queued") {
        return "ignored";
      }
      await dispatchTask(task.id);
      return "processed";
    case "task.progress":
      await db
        .update(agentTasks)
        .set({
          metadata: sql`${agentTasks.metadata} || ${JSON.stringify({
            progress: event.data.progress,
            ...(event.data.message ? { progress_message: event.data.message } : {}),
          })}::jsonb`,
        })
        .where(and(eq(agentTasks.id, taskId), inArray(agentTasks.status, [...unfinished])));
      return "processed";
    case "task.completed": {
      const [done] = await db
        .update(agentTasks)
        .set({
          status: "completed",
          ...(event.data.output ? { output: event.data.output } : {}),
          completed_at: new Date().toISOString(),
        })
        .where(and(eq(agentTasks.id, taskId), inArray(agentTasks.status, [...unfinished])))
        .returning({ id: agentTasks.id });
      if (done) {
        await alertOutcome(taskId);
      }
      return "processed";
    }
    case "task.failed": {
      const [failed] = await db
        .update(agentTasks)
        .set({ status: "failed", error: event.data.error, completed_at: new Date().toISOString() })
        .where(and(eq(agentTasks.id, taskId), inArray(agentTasks.status, [...unfinished])))
        .returning({ id: agentTasks.id });
      if (failed) {
        await alertOutcome(taskId);
      }
      return "processed";
    }
  }
}

/**
 * QStash's callback (after a background run answered) or failure callback (after its last retry):
 * the user hears how the task ended; a run that never finished is marked failed.
 */
async function applyCallback(ctx: RequestContext): Promise<Response> {
  const callback = await readQStashCallback(ctx, taskWebhookPath);
  const source = z.object({ task_id: z.uuid() }).safeParse(callback.source);
  if (!source.success) {
    return json({ success: true, data: { outcome: "ignored" } });
  }
  const taskId = source.data.task_id;
  const failed = callback.failed;
  const outcome = await processOnce(
    {
      source: "qstash",
      eventId: `${callback.sourceMessageId}:${failed ? "failure" : "callback"}`,
      eventType: failed ? "task.failed" : "task.callback",
      payload: callback,
    },
    async () => {
      if (failed) {
        const db = await serviceDb();
        await db
          .update(agentTasks)
          .set({
            status: "failed",
            error: `The background run failed after ${callback.retried + 1} attempts (last status ${callback.status})`,
            completed_at: new Date().toISOString(),
          })
          .where(and(eq(agentTasks.id, taskId), inArray(agentTasks.status, [...unfinished])));
      }
      await alertOutcome(taskId);
      return "processed";
    },
  );
  return json({ success: true, data: { outcome } });
}

/** `POST /webhook/task`: signed task events (Standard Webhooks) and QStash callbacks of async runs. */
export async function handleTaskWebhook(ctx: RequestContext): Promise<Response> {
  if (ctx.request.headers.has("upstash-signature")) {
    return applyCallback(ctx);
  }
  const verified = await verifyStandardWebhook(ctx);
  const parsed = taskEvent.safeParse(verified.payload);
  if (!parsed.success) {
    throw fromZodError(parsed.error, "body");
  }
  const outcome = await processOnce(
    { source: "task", eventId: verified.id, eventType: parsed.data.type, payload: parsed.data },
    () => applyTaskEvent(parsed.data),
  );
  if (outcome === "duplicate") {
    return json({ success: true, data: { outcome: "duplicate" } });
  }
  return json({ success: true, data: { outcome } });
}
