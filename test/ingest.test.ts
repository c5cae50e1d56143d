import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { beforeAll, describe, expect, it } from "vitest";
import * as taskWebhook from "../api/webhook/task";
import { getEngine } from "../lib/db/client";
import { agentTasks, webhookEvents } from "../lib/db/schema";
import { serviceDb } from "../lib/db/service";
import { processOnce } from "../lib/webhooks/dedupe";
import { call, createUser, secrets } from "./support/helpers";

/**
 * The cost and the guarantees of ingesting one signed task event: a task.progress event is recorded,
 * applied and marked in at most two statements, and the dedupe rules (replays, concurrent
 * deliveries, failed and stale claims) hold on that path as on the generic one.
 */
let user: string;

beforeAll(async () => {
  user = await createUser();
});

async function newTask(status: "processing" | "completed" = "processing") {
  const db = await serviceDb();
  const [task] = await db
    .insert(agentTasks)
    .values({ workspace_id: user, user_id: user, agent_name: "engineer", status, input: { prompt: "x" } })
    .returning();
  if (!task) {
    throw new Error("no task");
  }
  return task;
}

function signed(payload: unknown, id = `msg_${randomUUID()}`) {
  const body = JSON.stringify(payload);
  const at = new Date();
  return {
    id,
    body,
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": new Webhook(secrets.taskWebhookSecret).sign(id, at, body),
    },
  };
}

const post = (event: { body: string; headers: Record<string, string> }) =>
  call(taskWebhook, "POST", "/webhook/task", { body: event.body, headers: event.headers });

const progress = (taskId: string, value: number, message?: string) => ({
  type: "task.progress",
  data: { task_id: taskId, progress: value, ...(message ? { message } : {}) },
});

/**
 * Every statement the process sends to the database while `fn` runs, seen at the driver: postgres.js
 * reports each query it writes through its `debug` hook; PGlite is called through `query`/`exec`.
 */
async function statementsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const engine = await getEngine();
  const client = (engine.db as unknown as { $client: object }).$client;
  const statements: string[] = [];
  if (engine.driver === "postgres") {
    const options = (client as { options: { debug: unknown } }).options;
    const before = options.debug;
    options.debug = (_connection: number, query: string) => statements.push(query);
    try {
      await fn();
    } finally {
      options.debug = before;
    }
    return statements;
  }
  type Call = (...args: unknown[]) => Promise<unknown>;
  const pglite = client as { query: Call; exec: Call };
  const { query, exec } = pglite;
  pglite.query = (...args) => {
    statements.push(String(args[0]));
    return query.apply(client, args);
  };
  pglite.exec = (...args) => {
    statements.push(String(args[0]));
    return exec.apply(client, args);
  };
  try {
    await fn();
  } finally {
    pglite.query = query;
    pglite.exec = exec;
  }
  return statements;
}

async function recorded(eventId: string) {
  const db = await serviceDb();
  const rows = await db.select().from(webhookEvents).where(eq(webhookEvents.event_id, eventId));
  expect(rows).toHaveLength(1);
  return rows[0];
}

async function metadataOf(taskId: string) {
  const db = await serviceDb();
  const [row] = await db.select().from(agentTasks).where(eq(agentTasks.id, taskId));
  return row?.metadata;
}

/** A row an earlier delivery left behind, `minutesAgo` since it last changed. */
async function leftBehind(eventId: string, status: "processing" | "failed", minutesAgo: number) {
  const db = await serviceDb();
  await db.execute(sql`insert into public.webhook_events
    (source, event_id, event_type, payload, status, attempts, error, created_at, updated_at)
    values ('task', ${eventId}, 'task.progress', '{}', ${status}, 1,
      ${status === "failed" ? "connection reset" : null},
      now() - make_interval(mins => ${minutesAgo}), now() - make_interval(mins => ${minutesAgo}))`);
}

describe("a signed task.progress event", () => {
  it("is recorded, applied and marked in at most two statements", async () => {
    const task = await newTask();
    const event = signed(progress(task.id, 42, "Reading leads"));
    let status = 0;
    const statements = await statementsDuring(async () => {
      status = (await post(event)).status;
    });
    expect(status).toBe(200);
    expect(statements.length, statements.join("\n---\n")).toBeGreaterThan(0);
    expect(statements.length, statements.join("\n---\n")).toBeLessThanOrEqual(2);
    expect(await metadataOf(task.id)).toMatchObject({ progress: 42, progress_message: "Reading leads" });
    const row = await recorded(event.id);
    expect(row).toMatchObject({
      source: "task",
      event_type: "task.progress",
      status: "processed",
      attempts: 1,
    });
    expect(row?.processed_at).not.toBeNull();
    expect(row?.error).toBeNull();
    expect(row?.payload).toEqual(progress(task.id, 42, "Reading leads"));
  });

  it("a redelivery of a processed one is acknowledged in one statement, without effect", async () => {
    const task = await newTask();
    const event = signed(progress(task.id, 10));
    expect((await post(event)).body.data).toEqual({ outcome: "processed" });
    // Later progress from another event: the replay must not put 10 back.
    expect((await post(signed(progress(task.id, 70)))).status).toBe(200);
    let answer: unknown;
    const statements = await statementsDuring(async () => {
      answer = (await post(event)).body.data;
    });
    expect(answer).toEqual({ outcome: "duplicate" });
    expect(statements).toHaveLength(1);
    expect(await metadataOf(task.id)).toMatchObject({ progress: 70 });
    expect((await recorded(event.id))?.attempts).toBe(1);
  });

  it("one being processed by another delivery is 409 with Retry-After and left to it", async () => {
    const task = await newTask();
    const event = signed(progress(task.id, 55));
    await leftBehind(event.id, "processing", 0);
    const res = await post(event);
    expect(res.status).toBe(409);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(await metadataOf(task.id)).not.toHaveProperty("progress");
    expect(await recorded(event.id)).toMatchObject({ status: "processing", attempts: 1 });
  });

  it("a stale processing claim (its function died) is taken over", async () => {
    const task = await newTask();
    const event = signed(progress(task.id, 80));
    await leftBehind(event.id, "processing", 3);
    expect((await post(event)).body.data).toEqual({ outcome: "processed" });
    expect(await metadataOf(task.id)).toMatchObject({ progress: 80 });
    const row = await recorded(event.id);
    expect(row).toMatchObject({ status: "processed", attempts: 2, error: null });
    expect(row?.processed_at).not.toBeNull();
  });

  it("a failed one is processed again when redelivered", async () => {
    const task = await newTask();
    const event = signed(progress(task.id, 30));
    await leftBehind(event.id, "failed", 0);
    expect((await post(event)).body.data).toEqual({ outcome: "processed" });
    expect(await metadataOf(task.id)).toMatchObject({ progress: 30 });
    expect(await recorded(event.id)).toMatchObject({ status: "processed", attempts: 2, error: null });
  });

  it("concurrent deliveries of one event apply it once; the others are duplicates or 409", async () => {
    const task = await newTask();
    const event = signed(progress(task.id, 65));
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(event)));
    const outcomes = answers.map((res) =>
      res.status === 200 ? (res.body.data as { outcome: string }).outcome : String(res.status),
    );
    expect(outcomes.filter((outcome) => outcome === "processed")).toHaveLength(1);
    expect(outcomes.every((outcome) => ["processed", "duplicate", "409"].includes(outcome))).toBe(true);
    for (const res of answers.filter((answer) => answer.status === 409)) {
      expect(res.headers.get("retry-after")).toBe("5");
    }
    expect(await recorded(event.id)).toMatchObject({ status: "processed", attempts: 1 });
  });

  it("progress for a finished or unknown task changes nothing and is recorded as ignored", async () => {
    const task = await newTask("completed");
    for (const taskId of [task.id, randomUUID()]) {
      const event = signed(progress(taskId, 90));
      expect((await post(event)).body.data).toEqual({ outcome: "ignored" });
      const row = await recorded(event.id);
      expect(row).toMatchObject({ status: "ignored" });
      expect(row?.processed_at).not.toBeNull();
    }
    expect(await metadataOf(task.id)).not.toHaveProperty("progress");
  });
});

describe("the generic path (claim, handler, mark)", () => {
  it("claims in one statement; a failed handler is recorded and runs again on redelivery", async () => {
    const event = {
      source: "database" as const,
      eventId: randomUUID(),
      eventType: "test.event",
      payload: {},
    };
    let runs = 0;
    const statements = await statementsDuring(async () => {
      await expect(
        processOnce(event, async () => {
          runs += 1;
          throw new Error("upstream down");
        }),
      ).rejects.toThrow();
    });
    // The claim, then the failure recorded.
    expect(statements).toHaveLength(2);
    expect(await recorded(event.eventId)).toMatchObject({ status: "failed", attempts: 1 });
    expect(
      await processOnce(event, async () => {
        runs += 1;
        return "processed";
      }),
    ).toBe("processed");
    expect(await processOnce(event, async () => "processed")).toBe("duplicate");
    expect(runs).toBe(2);
    const row = await recorded(event.eventId);
    expect(row).toMatchObject({ status: "processed", attempts: 2, error: null });
    expect(row?.processed_at).not.toBeNull();
  });
});
