/**
 * The task store: the only writer of `agent_tasks`. It owns the lifecycle
 * (queued → processing → completed | failed), the idempotent claim, and the typed metadata, so the
 * agents, the workers, the webhooks and the schedules all move a task through the same few
 * transitions. It sits below the agents: email, booking and scrape use it without reaching into
 * `lib/agents`.
 */
import { createHash } from "node:crypto";
import { and, eq, inArray, lt, or, type SQL, sql } from "drizzle-orm";
import stringify from "safe-stable-stringify";
import { z } from "zod";
import { rowsOf } from "../db/client";
import { type AgentName, agentTasks } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { ApiError, type ErrorCode, errorStatus, fromZodError, toApiError } from "../http/errors";
import { type SiteState, sitesOf, type TaskMetadata } from "./metadata";

export type TaskRow = typeof agentTasks.$inferSelect;
type TaskStatus = TaskRow["status"];

/** `metadata.error_code` of a task whose input its agent's schema refuses. */
export const invalidInputCode = "invalid_input";

/**
 * A task whose input its agent's schema refuses, wherever that is found (at the trigger's admission,
 * in the worker, when a fan-out finishes): no retry can change the stored input, so the task fails for
 * good, recorded as `invalid_input` with the message the API's 400 would give (the first bad path).
 * To a caller of the API it is a 400 `bad_request`.
 */
export class InvalidTaskInput extends ApiError {
  constructor(error: z.ZodError) {
    const described = fromZodError(error, "input");
    super("bad_request", described.message, { retryable: false, details: described.details, cause: error });
    this.name = "InvalidTaskInput";
  }
}

/**
 * Anything a task's run threw, as the error the task records: a zod failure escaping from anywhere
 * in a run is invalid input (permanent), not the generic 500 that `toApiError` makes of unknown
 * errors (which is retried as possibly transient).
 */
export function taskError(thrown: unknown): ApiError {
  if (thrown instanceof z.ZodError) {
    return new InvalidTaskInput(thrown);
  }
  return toApiError(thrown);
}

/** The code a failure is recorded under in `metadata.error_code`. */
function recordedCode(error: ApiError): string {
  return error instanceof InvalidTaskInput ? invalidInputCode : error.code;
}

/** Token and cost figures of a run (the model layer's usage, as the store records it). */
export interface TaskUsage {
  model: string;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  calls: number;
  cached: boolean;
}

/** A task stuck in processing this long is taken to have died with its function and may be re-run. */
const staleAfterMs = 5 * 60_000;
const unfinished = ["queued", "processing"] as const;
const unfinishedList = sql.raw(`(${unfinished.map((status) => `'${status}'`).join(", ")})`);

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

/** One metadata patch, merged into the stored object (top-level keys replace, others stay). */
const merged = (patch: TaskMetadata): SQL => sql`${agentTasks.metadata} || ${JSON.stringify(patch)}::jsonb`;

export async function loadTask(taskId: string): Promise<TaskRow | undefined> {
  const db = await serviceDb();
  const [task] = await db.select().from(agentTasks).where(eq(agentTasks.id, taskId));
  return task;
}

export type Claim = { kind: "new"; task: TaskRow } | { kind: "replay"; task: TaskRow };

export interface ClaimRequest {
  workspaceId: string;
  userId: string;
  agent: AgentName;
  input: Record<string, unknown>;
  key: string | undefined;
  hash: string;
  status: "processing" | "queued";
  parentTaskId?: string | undefined;
  /** Set when the caller ran admission (validation, rate limit, budget) before claiming. */
  admitted?: "api";
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
      workspace_id: request.workspaceId,
      user_id: request.userId,
      agent_name: request.agent,
      status: request.status,
      input: request.input,
      external_id: request.key ?? null,
      request_hash: request.hash,
      parent_task_id: request.parentTaskId ?? null,
      started_at: request.status === "processing" ? now : null,
      metadata: request.admitted ? { admitted_at: now, admitted_by: request.admitted } : {},
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
      { retryable: false },
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

/**
 * The worker's claim of a queued task (queued → processing). QStash redelivers a message only after
 * its previous delivery failed or timed out, so a task left processing by an earlier delivery of the
 * same message (one that died, or lost its database mid-run) is taken over rather than waited on.
 */
export async function takeQueuedTask(taskId: string, messageId: string): Promise<TaskRow | undefined> {
  const db = await serviceDb();
  const [claimed] = await db
    .update(agentTasks)
    .set({
      status: "processing",
      started_at: new Date().toISOString(),
      error: null,
      metadata: merged({ claimed_by: messageId }),
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
  return claimed;
}

/**
 * Back in the queue for the next delivery of its message (a transient failure): a run that recorded
 * its failure is reopened, without the error or its code, since the next delivery may still succeed
 * (a queued task never shows an error).
 */
export async function returnToQueue(taskId: string): Promise<void> {
  const db = await serviceDb();
  await db
    .update(agentTasks)
    .set({
      status: "queued",
      error: null,
      completed_at: null,
      metadata: sql`${agentTasks.metadata} - 'error_code' - 'retryable'`,
    })
    .where(and(eq(agentTasks.id, taskId), inArray(agentTasks.status, ["processing", "failed"])));
}

/** Records that a task passed admission in the worker (frontend inserts and automatic runs). */
export async function markAdmitted(taskId: string): Promise<void> {
  const db = await serviceDb();
  await db
    .update(agentTasks)
    .set({ metadata: merged({ admitted_at: new Date().toISOString(), admitted_by: "worker" }) })
    .where(eq(agentTasks.id, taskId));
}

export interface TaskOutcome {
  output: unknown;
  usage: TaskUsage;
  metadata?: TaskMetadata;
}

export async function completeTask(taskId: string, outcome: TaskOutcome): Promise<TaskRow> {
  const db = await serviceDb();
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
      metadata: merged({
        ...outcome.metadata,
        cached: outcome.usage.cached,
        model_calls: outcome.usage.calls,
      }),
    })
    .where(eq(agentTasks.id, taskId))
    .returning();
  if (!task) {
    throw new Error(`task ${taskId} vanished`);
  }
  return task;
}

/**
 * Fails a task with the error's message and code. `onlyWhile` limits it to a task still in one of
 * those statuses (a refusal that must not overwrite a run another delivery has started).
 */
export async function failTask(
  taskId: string,
  error: ApiError,
  onlyWhile?: readonly TaskStatus[],
): Promise<TaskRow | undefined> {
  const db = await serviceDb();
  const [task] = await db
    .update(agentTasks)
    .set({
      status: "failed",
      error: error.message,
      completed_at: new Date().toISOString(),
      metadata: merged({ error_code: recordedCode(error), retryable: error.retryable }),
    })
    .where(and(eq(agentTasks.id, taskId), onlyWhile ? inArray(agentTasks.status, [...onlyWhile]) : undefined))
    .returning();
  return task;
}

/**
 * An outcome reported from outside the run (a signed task event, or QStash giving up on the
 * message): applied only to a task still queued or processing. Returns whether it changed the task.
 */
export async function finishUnfinished(
  taskId: string,
  outcome: { status: "completed"; output?: Record<string, unknown> } | { status: "failed"; error: string },
): Promise<boolean> {
  const db = await serviceDb();
  const [done] = await db
    .update(agentTasks)
    .set(
      outcome.status === "completed"
        ? {
            status: "completed",
            ...(outcome.output ? { output: outcome.output } : {}),
            completed_at: new Date().toISOString(),
          }
        : {
            status: "failed",
            error: outcome.error,
            completed_at: new Date().toISOString(),
            metadata: merged({ error_code: "internal_error", retryable: false }),
          },
    )
    .where(and(eq(agentTasks.id, taskId), inArray(agentTasks.status, [...unfinished])))
    .returning({ id: agentTasks.id });
  return Boolean(done);
}

/**
 * The update that records a task's progress (only while it is unfinished), returning the task's id
 * when it applied: a statement of its own, or the effect a caller composes into a statement of its
 * (an inbound event applied and recorded at once, see `applyOnce`). A template rather than the
 * query builder, so that it can be composed without a database handle.
 */
export function progressUpdate(taskId: string, progress: number, message?: string): SQL {
  const patch = merged({ progress, ...(message ? { progress_message: message } : {}) });
  return sql`update ${agentTasks} set metadata = ${patch}
    where ${agentTasks.id} = ${taskId} and ${agentTasks.status} in ${unfinishedList}
    returning ${agentTasks.id}`;
}

/** Progress of a task still running, as the user sees it. Returns whether the task took it. */
export async function setProgress(taskId: string, progress: number, message?: string): Promise<boolean> {
  const db = await serviceDb();
  return rowsOf(await db.execute(progressUpdate(taskId, progress, message))).length > 0;
}

/** A fan-out task's start: every site pending, progress at zero. */
export async function startFanOut(task: TaskRow, sites: Record<string, SiteState>): Promise<void> {
  const db = await serviceDb();
  const count = Object.keys(sites).length;
  await db
    .update(agentTasks)
    .set({
      started_at: task.started_at ?? new Date().toISOString(),
      metadata: merged({
        sites,
        progress: 0,
        progress_message: `reading ${count} site${count === 1 ? "" : "s"}`,
      }),
    })
    .where(eq(agentTasks.id, task.id));
}

/**
 * Records one site's report on its task, once: only a site still pending changes, in one statement,
 * so concurrent reports for different sites never overwrite each other. Returns the sites still
 * pending, or undefined when the report changed nothing (a duplicate, or the task is over).
 */
export async function recordSiteReport(
  taskId: string,
  site: string,
  state: Omit<SiteState, "start_urls" | "reported_at">,
): Promise<{ pending: number; total: number } | undefined> {
  const db = await serviceDb();
  const patch = JSON.stringify({ ...state, reported_at: new Date().toISOString() });
  const [row] = await db
    .update(agentTasks)
    .set({
      metadata: sql`jsonb_set(${agentTasks.metadata}, array['sites', ${site}]::text[],
        (${agentTasks.metadata} -> 'sites' -> ${site}) || ${patch}::jsonb)`,
    })
    .where(
      and(
        eq(agentTasks.id, taskId),
        eq(agentTasks.status, "processing"),
        sql`${agentTasks.metadata} -> 'sites' -> ${site} ->> 'status' = 'pending'`,
      ),
    )
    .returning({ metadata: agentTasks.metadata });
  if (!row) {
    return undefined;
  }
  const sites = Object.values(sitesOf(row.metadata));
  const pending = sites.filter((entry) => entry.status === "pending").length;
  const progress = Math.round(((sites.length - pending) / Math.max(1, sites.length)) * 90);
  await setProgress(taskId, progress, `${sites.length - pending} of ${sites.length} sites read`);
  return { pending, total: sites.length };
}

/** Fan-out tasks of an agent still processing that were created before `before`. */
export async function stuckFanOuts(agent: AgentName, before: Date): Promise<TaskRow[]> {
  const db = await serviceDb();
  return db
    .select()
    .from(agentTasks)
    .where(
      and(
        eq(agentTasks.agent_name, agent),
        eq(agentTasks.status, "processing"),
        lt(agentTasks.created_at, before.toISOString()),
        sql`${agentTasks.metadata} ? 'sites'`,
      ),
    );
}

/** The stored outcome of a failed task, as the error it was. */
export function storedError(task: TaskRow): ApiError {
  const code = (task.metadata as TaskMetadata).error_code;
  const known =
    code === invalidInputCode
      ? "bad_request"
      : code && code in errorStatus
        ? (code as ErrorCode)
        : "internal_error";
  return new ApiError(known, task.error ?? "The task failed", { details: { task_id: task.id } });
}

/** What the API shows of a task (the OpenAPI document uses this same schema). */
export const taskSummary = z
  .object({
    id: z.uuid(),
    workspace_id: z.uuid(),
    agent_name: z.string(),
    status: z.enum(["queued", "processing", "completed", "failed", "cancelled"]),
    external_id: z.string().nullable(),
    model: z.string().nullable(),
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    cost_usd: z.number(),
    error: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    created_at: z.string(),
    started_at: z.string().nullable(),
    completed_at: z.string().nullable(),
  })
  .meta({ id: "TaskSummary" });

export function publicTask(task: TaskRow): z.infer<typeof taskSummary> {
  return {
    id: task.id,
    workspace_id: task.workspace_id,
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
