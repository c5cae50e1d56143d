import { createHash } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import stringify from "safe-stable-stringify";
import { type AgentName, agentTasks } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { ApiError, type ErrorCode, errorStatus } from "../http/errors";
import type { Usage } from "../llm/complete";
import type { EncodedContext } from "../toon";

export type TaskRow = typeof agentTasks.$inferSelect;

/** A task stuck in processing this long is taken to have died with its function and may be re-run. */
const staleAfterMs = 5 * 60_000;

const idempotencyKeyPattern = /^[A-Za-z0-9._:~-]{1,255}$/;

/**
 * The key from `Idempotency-Key` (an RFC 8941 string, quotes optional) or the prototype's
 * `external_id`; the header wins. Keys are scoped to the user, so one user cannot see another's.
 */
export function idempotencyKey(request: Request, externalId: string | undefined): string | undefined {
  const header = request.headers
    .get("idempotency-key")
    ?.trim()
    .replace(/^"(.*)"$/, "$1");
  const key = header || externalId;
  if (key === undefined) {
    return undefined;
  }
  if (!idempotencyKeyPattern.test(key)) {
    throw new ApiError(
      "bad_request",
      "Idempotency-Key must be 1–255 characters of A–Z, a–z, 0–9 and . _ : ~ -",
    );
  }
  return key;
}

/** Fingerprint of a request body: same key with a different body is refused (422). */
export function requestHash(body: unknown): string {
  return createHash("sha256")
    .update(stringify(body) ?? "")
    .digest("hex");
}

export type Claim = { kind: "new"; task: TaskRow } | { kind: "replay"; task: TaskRow };

export interface ClaimRequest {
  userId: string;
  agent: AgentName;
  input: Record<string, unknown>;
  key: string | undefined;
  hash: string;
  status: "processing" | "queued";
  parentTaskId?: string | undefined;
  /** Answer a retry of a still-running task with that task instead of 409 (and never take it over). */
  runningIsReplay?: boolean;
}

/**
 * Creates the task row, or finds the one this idempotency key already made. The unique
 * (user_id, external_id) index decides races: of any number of concurrent identical requests exactly
 * one inserts and runs; the others see its row (409 while it runs, its result after).
 */
export async function claimTask(request: ClaimRequest): Promise<Claim> {
  const db = await serviceDb();
  const now = new Date().toISOString();
  const [inserted] = await db
    .insert(agentTasks)
    .values({
      user_id: request.userId,
      agent_name: request.agent,
      status: request.status,
      input: request.input,
      external_id: request.key ?? null,
      request_hash: request.hash,
      parent_task_id: request.parentTaskId ?? null,
      started_at: request.status === "processing" ? now : null,
    })
    .onConflictDoNothing({ target: [agentTasks.user_id, agentTasks.external_id] })
    .returning();
  if (inserted) {
    return { kind: "new", task: inserted };
  }
  const [existing] = await db
    .select()
    .from(agentTasks)
    .where(and(eq(agentTasks.user_id, request.userId), eq(agentTasks.external_id, request.key ?? "")));
  if (!existing) {
    throw new ApiError("conflict", "The idempotency key is in use; retry shortly", {
      headers: { "retry-after": "1" },
    });
  }
  if (existing.request_hash !== request.hash || existing.agent_name !== request.agent) {
    throw new ApiError(
      "unprocessable_entity",
      "This Idempotency-Key was already used with a different request",
      {
        retryable: false,
      },
    );
  }
  if (
    existing.status === "completed" ||
    existing.status === "failed" ||
    existing.status === "cancelled" ||
    request.runningIsReplay
  ) {
    return { kind: "replay", task: existing };
  }
  const age = Date.now() - timestampMs(existing.updated_at);
  if (existing.status === "processing" && age > staleAfterMs) {
    // Compare-and-set on updated_at, so only one retry takes the stale task over.
    const [taken] = await db
      .update(agentTasks)
      .set({ status: "processing", started_at: now, error: null })
      .where(
        and(
          eq(agentTasks.id, existing.id),
          eq(agentTasks.status, "processing"),
          sql`${agentTasks.updated_at} = ${existing.updated_at}::timestamptz`,
        ),
      )
      .returning();
    if (taken) {
      return { kind: "new", task: taken };
    }
  }
  throw new ApiError("conflict", "A request with this Idempotency-Key is still running", {
    headers: { "retry-after": "2" },
    details: { task_id: existing.id, status: existing.status },
  });
}

export async function completeTask(
  taskId: string,
  outcome: {
    output: unknown;
    usage: Usage;
    context?: EncodedContext | undefined;
    metadata?: Record<string, unknown>;
  },
): Promise<TaskRow> {
  const db = await serviceDb();
  const metadata = {
    ...outcome.metadata,
    cached: outcome.usage.cached,
    model_calls: outcome.usage.calls,
    ...(outcome.context
      ? {
          context_tokens: {
            format: outcome.context.format,
            json_tokens: outcome.context.json_tokens,
            compact_json_tokens: outcome.context.compact_json_tokens,
            toon_tokens: outcome.context.toon_tokens,
            savings_percent: outcome.context.savings_percent,
          },
        }
      : {}),
  };
  const [task] = await db
    .update(agentTasks)
    .set({
      status: "completed",
      output: outcome.output,
      error: null,
      model: outcome.usage.model || null,
      prompt_tokens: outcome.usage.promptTokens,
      completion_tokens: outcome.usage.completionTokens,
      cost_usd: outcome.usage.costUsd.toFixed(6),
      completed_at: new Date().toISOString(),
      metadata: sql`${agentTasks.metadata} || ${JSON.stringify(metadata)}::jsonb`,
    })
    .where(eq(agentTasks.id, taskId))
    .returning();
  if (!task) {
    throw new Error(`task ${taskId} vanished`);
  }
  return task;
}

export async function failTask(taskId: string, error: ApiError): Promise<TaskRow | undefined> {
  const db = await serviceDb();
  const details = { error_code: error.code, retryable: error.retryable };
  const [task] = await db
    .update(agentTasks)
    .set({
      status: "failed",
      error: error.message,
      completed_at: new Date().toISOString(),
      metadata: sql`${agentTasks.metadata} || ${JSON.stringify(details)}::jsonb`,
    })
    .where(eq(agentTasks.id, taskId))
    .returning();
  return task;
}

/** The stored outcome of a failed task, as the error it was. */
export function storedError(task: TaskRow): ApiError {
  const code = (task.metadata as { error_code?: string }).error_code;
  const known = code && code in errorStatus ? (code as ErrorCode) : "internal_error";
  return new ApiError(known, task.error ?? "The task failed", { details: { task_id: task.id } });
}

/** What the API shows of a task. */
export function publicTask(task: TaskRow) {
  return {
    id: task.id,
    agent_name: task.agent_name,
    status: task.status,
    external_id: task.external_id,
    model: task.model,
    prompt_tokens: task.prompt_tokens,
    completion_tokens: task.completion_tokens,
    cost_usd: Number(task.cost_usd),
    error: task.error,
    metadata: task.metadata,
    created_at: task.created_at,
    started_at: task.started_at,
    completed_at: task.completed_at,
  };
}
