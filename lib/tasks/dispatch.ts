import { ApiError } from "../http/errors";
import { publishJob } from "../queue";

export const agentWorkerPath = "/api/workers/agent";
export const taskWebhookPath = "/webhook/task";
/** Deliveries QStash retries after the first; the worker fails a task for good on the last. */
export const dispatchRetries = 3;

/**
 * Publishes the background run of a queued task: one QStash message per task however often this is
 * called (the task id is the deduplication id), with callbacks to /webhook/task.
 */
export async function dispatchTask(taskId: string): Promise<string> {
  try {
    return await publishJob(
      agentWorkerPath,
      { task_id: taskId },
      {
        deduplicationId: `task-${taskId}`,
        retries: dispatchRetries,
        callbackPath: taskWebhookPath,
        failureCallbackPath: taskWebhookPath,
      },
    );
  } catch (error) {
    throw new ApiError("service_unavailable", "The background queue is unavailable", {
      cause: error,
      headers: { "retry-after": "10" },
    });
  }
}

/**
 * Publishes the last step of a fan-out task (its jobs have all reported): once per task, however
 * many reports race to it. A finish that fails every retry fails the task through /webhook/task.
 */
export async function dispatchFinish(taskId: string): Promise<string> {
  return publishJob(
    agentWorkerPath,
    { task_id: taskId, phase: "finish" },
    {
      deduplicationId: `finish-${taskId}`,
      retries: dispatchRetries,
      failureCallbackPath: taskWebhookPath,
    },
  );
}
