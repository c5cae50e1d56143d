import { z } from "zod";
import { titles } from "../agents/registry";
import { raiseAlert } from "../alerts";
import { agentNames } from "../db/schema";
import { fromZodError } from "../http/errors";
import type { RequestContext } from "../http/handler";
import { reply } from "../http/responses";
import { readQStashCallback } from "../queue";
import { dispatchTask, taskWebhookPath } from "../tasks/dispatch";
import {
  failTask,
  finishUnfinished,
  invalidInputCode,
  loadTask,
  progressUpdate,
  setProgress,
} from "../tasks/store";
import { applyOnce, processOnce } from "./dedupe";
import { taskWebhookAnswer } from "./responses";
import { verifyStandardWebhook } from "./standard";

export const taskEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("task.queued"),
    data: z.object({
      task_id: z.uuid(),
      user_id: z.uuid().optional(),
      workspace_id: z.uuid().optional(),
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

async function alertOutcome(taskId: string): Promise<void> {
  const task = await loadTask(taskId);
  if (!task || (task.status !== "completed" && task.status !== "failed")) {
    return;
  }
  const title = titles[task.agent_name];
  await raiseAlert({
    workspaceId: task.workspace_id,
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

/**
 * What applying an event did. `refused`: the queued task's input failed its agent's schema and the
 * task failed for good (the event itself was handled: nothing about it would change on a retry).
 */
export type TaskEventOutcome =
  | { outcome: "processed" | "ignored" }
  | { outcome: "refused"; error: { code: string; message: string } };

/**
 * Applies one verified task event. A queued task (the frontend's insert) is admitted in two steps:
 * here its input is validated with the schema of its agent's endpoint (an invalid one fails the task
 * at once, `invalid_input`, and nothing is published); then the agent worker runs the rest of the
 * admission (caps, rate limit, budget) before anything runs.
 */
export async function applyTaskEvent(event: TaskEvent): Promise<TaskEventOutcome> {
  const taskId = event.data.task_id;
  const task = await loadTask(taskId);
  if (!task) {
    return { outcome: "ignored" };
  }
  switch (event.type) {
    case "task.queued": {
      if (task.status !== "queued") {
        return { outcome: "ignored" };
      }
      // Loaded here, not at the top: only this event needs the agents' schemas (and what they import).
      const { refusedInput } = await import("../agents/admission");
      const refused = await refusedInput(task);
      if (refused) {
        if (await failTask(task.id, refused, ["queued"])) {
          await alertOutcome(task.id);
        }
        return { outcome: "refused", error: { code: invalidInputCode, message: refused.message } };
      }
      await dispatchTask(task.id);
      return { outcome: "processed" };
    }
    case "task.progress":
      // /webhook/task applies progress with `applyOnce` instead, without the lookup above.
      return {
        outcome: (await setProgress(taskId, event.data.progress, event.data.message))
          ? "processed"
          : "ignored",
      };
    case "task.completed":
      if (await finishUnfinished(taskId, { status: "completed", output: event.data.output })) {
        await alertOutcome(taskId);
      }
      return { outcome: "processed" };
    case "task.failed":
      if (await finishUnfinished(taskId, { status: "failed", error: event.data.error })) {
        await alertOutcome(taskId);
      }
      return { outcome: "processed" };
  }
}

/**
 * QStash's callback (after each attempt of a background run) or failure callback (after its last):
 * an attempt that will be retried changes nothing; otherwise the user hears how the task ended,
 * and a run that never finished is marked failed, once.
 */
async function applyCallback(ctx: RequestContext): Promise<Response> {
  const callback = await readQStashCallback(ctx, taskWebhookPath);
  const source = z.object({ task_id: z.uuid() }).safeParse(callback.source);
  if (!source.success) {
    return reply(taskWebhookAnswer, { success: true, data: { outcome: "ignored" } });
  }
  if (callback.kind === "retrying") {
    // An attempt QStash will make again: nothing is decided until the last one.
    return reply(taskWebhookAnswer, { success: true, data: { outcome: "attempt_will_be_retried" } });
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
        await finishUnfinished(taskId, {
          status: "failed",
          error: `The background run failed after ${callback.retried + 1} attempts (last status ${callback.status})`,
        });
      }
      await alertOutcome(taskId);
      return "processed";
    },
  );
  return reply(taskWebhookAnswer, { success: true, data: { outcome } });
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
  const event = parsed.data;
  const inbound = { source: "task", eventId: verified.id, eventType: event.type, payload: event } as const;
  if (event.type === "task.progress") {
    // The most frequent event: claimed in one statement, applied and marked in a second, with no
    // lookup of the task first (the update's own condition decides whether it applies).
    const outcome = await applyOnce(
      inbound,
      progressUpdate(event.data.task_id, event.data.progress, event.data.message),
    );
    return reply(taskWebhookAnswer, { success: true, data: { outcome } });
  }
  let applied: TaskEventOutcome | undefined;
  const outcome = await processOnce(inbound, async () => {
    applied = await applyTaskEvent(event);
    // A refused task is a handled event: recorded as processed, so a redelivery changes nothing.
    return applied.outcome === "ignored" ? "ignored" : "processed";
  });
  if (outcome === "duplicate" || !applied) {
    return reply(taskWebhookAnswer, { success: true, data: { outcome: "duplicate" } });
  }
  // 200 either way: the sender (pg_net, the local relay) must not retry a refusal, which is final.
  return reply(taskWebhookAnswer, { success: true, data: applied });
}
