import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { beforeAll, describe, expect, it } from "vitest";
import * as taskWebhook from "../api/webhook/task";
import { QStashBroker } from "../dev/qstash-broker";
import { configureTaskEvents } from "../dev/task-relay";
import { asUser } from "../lib/db/as-user";
import { getEngine } from "../lib/db/client";
import { agentTasks, alerts, webhookEvents } from "../lib/db/schema";
import { serviceDb } from "../lib/db/service";
import { call, createUser, insertTaskAsFrontend, rotatedWebhookSecret, secrets } from "./support/helpers";

/**
 * The signed task-event path: the trigger's Standard Webhooks signature made in SQL, /webhook/task's
 * verification (negative matrix, rotation, replays) and what each event does; QStash callbacks.
 */
let user: string;

beforeAll(async () => {
  user = await createUser();
  await configureTaskEvents(await getEngine(), secrets.taskWebhookSecret, "http://app.test/webhook/task");
});

async function newTask(status: "queued" | "processing" = "processing") {
  const db = await serviceDb();
  const [task] = await db
    .insert(agentTasks)
    .values({
      workspace_id: user,
      user_id: user,
      agent_name: "engineer",
      status,
      input: { user_id: user, prompt: "x" },
    })
    .returning();
  if (!task) {
    throw new Error("no task");
  }
  return task;
}

function signed(payload: unknown, options: { secret?: string; id?: string; at?: Date; body?: string } = {}) {
  const body = options.body ?? JSON.stringify(payload);
  const id = options.id ?? `msg_${randomUUID()}`;
  const at = options.at ?? new Date();
  const signature = new Webhook(options.secret ?? secrets.taskWebhookSecret).sign(id, at, body);
  return {
    body,
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": signature,
    },
  };
}

const post = (event: { body: string; headers: Record<string, string> }) =>
  call(taskWebhook, "POST", "/webhook/task", { body: event.body, headers: event.headers });

async function alertsFor(taskId: string) {
  const db = await serviceDb();
  return db.select().from(alerts).where(eq(alerts.task_id, taskId));
}

describe("events signed in SQL", () => {
  it("a signature computed by the database verifies with the Standard Webhooks library", async () => {
    const engine = await getEngine();
    const received: string[] = [];
    const unlisten = await engine.listen("task_events", (payload) => received.push(payload));
    const taskId = randomUUID();
    await engine.exec(
      `select private.emit_task_event('task.progress', '{"task_id": "${taskId}", "progress": 40, "message": "Café ☕ — déjà vu"}'::jsonb)`,
    );
    for (let i = 0; i < 100 && received.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await unlisten();
    expect(received).toHaveLength(1);
    const event = JSON.parse(received[0] ?? "{}") as { headers: Record<string, string>; body: string };
    const payload = new Webhook(secrets.taskWebhookSecret).verify(event.body, event.headers) as {
      type: string;
      data: Record<string, unknown>;
    };
    expect(payload.type).toBe("task.progress");
    expect(payload.data).toEqual({ task_id: taskId, progress: 40, message: "Café ☕ — déjà vu" });
    expect(event.headers["webhook-id"]).toMatch(/^msg_[0-9a-f]{32}$/);
  });

  it("fires for a task the frontend inserts as queued under RLS, not for the backend's own rows", async () => {
    const engine = await getEngine();
    const received: string[] = [];
    const unlisten = await engine.listen("task_events", (payload) => received.push(payload));
    await newTask("queued");
    const mine = await insertTaskAsFrontend(user, {
      agent_name: "engineer",
      input: { prompt: "From the frontend" },
    });
    for (let i = 0; i < 100 && received.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    await unlisten();
    expect(received).toHaveLength(1);
    const body = JSON.parse(JSON.parse(received[0] ?? "{}").body);
    expect(body).toMatchObject({
      type: "task.queued",
      data: { task_id: mine?.id, user_id: user, workspace_id: user, agent_name: "engineer" },
    });
  });

  it("the frontend may start a task but not forge its outcome", async () => {
    await expect(
      asUser({ id: user }, (tx) =>
        tx.insert(agentTasks).values({
          workspace_id: user,
          user_id: user,
          agent_name: "engineer",
          status: "completed",
          input: {},
          output: { response: "forged" },
        }),
      ),
    ).rejects.toThrow();
  });
});

describe("POST /webhook/task verification", () => {
  it("applies a correctly signed event once; a replay is acknowledged without effect", async () => {
    const task = await newTask();
    const event = signed({ type: "task.failed", data: { task_id: task.id, error: "Model quota exhausted" } });
    const first = await post(event);
    expect(first.status).toBe(200);
    expect((first.body.data as { outcome: string }).outcome).toBe("processed");
    const replay = await post(event);
    expect(replay.status).toBe(200);
    expect((replay.body.data as { outcome: string }).outcome).toBe("duplicate");
    const parallel = await Promise.all(Array.from({ length: 10 }, () => post(event)));
    expect(parallel.every((res) => res.status === 200 || res.status === 409)).toBe(true);
    expect(await alertsFor(task.id)).toHaveLength(1);
    const db = await serviceDb();
    const [row] = await db.select().from(agentTasks).where(eq(agentTasks.id, task.id));
    expect(row?.status).toBe("failed");
    expect(row?.error).toBe("Model quota exhausted");
  });

  it("accepts the second secret during a rotation", async () => {
    const task = await newTask();
    const res = await post(
      signed(
        { type: "task.progress", data: { task_id: task.id, progress: 10 } },
        { secret: rotatedWebhookSecret },
      ),
    );
    expect(res.status).toBe(200);
  });

  it.each([
    [
      "a tampered body",
      () => ({
        ...signed({ type: "task.progress", data: { task_id: randomUUID(), progress: 1 } }),
        body: '{"type":"task.progress","data":{"task_id":"00000000-0000-4000-8000-000000000000","progress":99}}',
      }),
    ],
    [
      "a timestamp six minutes old",
      () =>
        signed(
          { type: "task.progress", data: { task_id: randomUUID(), progress: 1 } },
          { at: new Date(Date.now() - 6 * 60_000) },
        ),
    ],
    [
      "a timestamp six minutes ahead",
      () =>
        signed(
          { type: "task.progress", data: { task_id: randomUUID(), progress: 1 } },
          { at: new Date(Date.now() + 6 * 60_000) },
        ),
    ],
    [
      "an unknown secret",
      () =>
        signed(
          { type: "task.progress", data: { task_id: randomUUID(), progress: 1 } },
          { secret: "whsec_dW5rbm93bi1zZWNyZXQtdW5rbm93bi1zZWNyZXQ=" },
        ),
    ],
    [
      "no signature",
      () => {
        const event = signed({ type: "task.progress", data: { task_id: randomUUID(), progress: 1 } });
        const { "webhook-signature": _, ...headers } = event.headers;
        return { body: event.body, headers };
      },
    ],
    [
      "a malformed signature",
      () => {
        const event = signed({ type: "task.progress", data: { task_id: randomUUID(), progress: 1 } });
        return { body: event.body, headers: { ...event.headers, "webhook-signature": "v2,abc v1,@@@" } };
      },
    ],
  ])("401 for %s, and nothing is recorded", async (_, make) => {
    const event = make();
    const res = await post(event as { body: string; headers: Record<string, string> });
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe("invalid_signature");
    const db = await serviceDb();
    const recorded = await db
      .select()
      .from(webhookEvents)
      .where(eq(webhookEvents.event_id, (event.headers as Record<string, string>)["webhook-id"] ?? ""));
    expect(recorded).toHaveLength(0);
  });

  it("400 for a verified event of an unknown shape", async () => {
    const res = await post(signed({ type: "task.exploded", data: {} }));
    expect(res.status).toBe(400);
  });
});

describe("what each event does", () => {
  it("progress goes into the task's metadata", async () => {
    const task = await newTask();
    await post(
      signed({ type: "task.progress", data: { task_id: task.id, progress: 60, message: "Reading leads" } }),
    );
    const db = await serviceDb();
    const [row] = await db.select().from(agentTasks).where(eq(agentTasks.id, task.id));
    expect(row?.metadata).toMatchObject({ progress: 60, progress_message: "Reading leads" });
  });

  it("completed finishes the task with its output and raises an alert", async () => {
    const task = await newTask();
    await post(
      signed({ type: "task.completed", data: { task_id: task.id, output: { response: "All done" } } }),
    );
    const db = await serviceDb();
    const [row] = await db.select().from(agentTasks).where(eq(agentTasks.id, task.id));
    expect(row?.status).toBe("completed");
    expect(row?.output).toEqual({ response: "All done" });
    const raised = await alertsFor(task.id);
    expect(raised.map((a) => [a.type, a.title, a.message])).toEqual([
      ["task.completed", "Engineer finished", "All done"],
    ]);
  });

  it("an event about a finished task changes nothing", async () => {
    const task = await newTask();
    await post(signed({ type: "task.completed", data: { task_id: task.id } }));
    await post(signed({ type: "task.failed", data: { task_id: task.id, error: "late" } }));
    const db = await serviceDb();
    const [row] = await db.select().from(agentTasks).where(eq(agentTasks.id, task.id));
    expect(row?.status).toBe("completed");
    expect(await alertsFor(task.id)).toHaveLength(1);
  });
});

describe("a queued task the frontend inserts with an invalid input", () => {
  /** Inserts as the browser does through PostgREST and returns the signed event its trigger emitted. */
  async function insertedEvent(values: { agent_name: string; input: Record<string, unknown> }) {
    const engine = await getEngine();
    const received: string[] = [];
    const unlisten = await engine.listen("task_events", (payload) => received.push(payload));
    const task = await insertTaskAsFrontend(user, values);
    for (let i = 0; i < 250 && received.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await unlisten();
    const event = JSON.parse(received[0] ?? "{}") as { headers: Record<string, string>; body: string };
    return { task, event };
  }

  async function row(id: string) {
    const db = await serviceDb();
    const [found] = await db.select().from(agentTasks).where(eq(agentTasks.id, id));
    return found;
  }

  it.each([
    ["engineer", { prompt: "" }, /^input\.prompt: /],
    [
      "booking-callprep",
      { lead_id: "00000000-0000-4000-8000-000000000000", duration_minutes: 5 },
      /^input\.duration_minutes: /,
    ],
    ["leadgen-scraper", { criteria: { industries: ["coffee"] } }, /^input\.target_urls: /],
  ])(
    "%s: failed at the event with invalid_input and the schema's message; answered 200, nothing published",
    async (agent, input, message) => {
      const { task, event } = await insertedEvent({ agent_name: agent, input });
      // QStash is unreachable in this file: publishing the task would have answered 503.
      const res = await post(event);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data).toMatchObject({ outcome: "refused", error: { code: "invalid_input" } });
      const failed = await row(task.id);
      expect(failed?.status).toBe("failed");
      expect(failed?.metadata).toMatchObject({ error_code: "invalid_input", retryable: false });
      expect(failed?.error).toMatch(message);
      expect(failed?.error).toBe((res.body.data as { error: { message: string } }).error.message);
      expect((await alertsFor(task.id)).map((a) => [a.type, a.message])).toEqual([
        ["task.failed", failed?.error],
      ]);
      // A redelivery of the event changes nothing.
      expect((await post(event)).body.data).toEqual({ outcome: "duplicate" });
    },
  );
});

describe("QStash callbacks of background runs", () => {
  const broker = new QStashBroker({ token: "unused", currentSigningKey: secrets.qstashCurrentSigningKey });

  async function callback(body: Record<string, unknown>) {
    const text = JSON.stringify(body);
    return call(taskWebhook, "POST", "/webhook/task", {
      body: text,
      headers: { "upstash-signature": await broker.sign("http://app.test/webhook/task", text, randomUUID()) },
    });
  }

  it("a failure callback fails the task once and alerts the user once", async () => {
    const task = await newTask("queued");
    const body = {
      status: 503,
      sourceMessageId: `msg_${randomUUID()}`,
      sourceBody: Buffer.from(JSON.stringify({ task_id: task.id })).toString("base64"),
      retried: 3,
      dlqId: `dlq_${randomUUID()}`,
    };
    expect((await callback(body)).status).toBe(200);
    expect((await callback(body)).status).toBe(200);
    const db = await serviceDb();
    const [row] = await db.select().from(agentTasks).where(eq(agentTasks.id, task.id));
    expect(row?.status).toBe("failed");
    expect(row?.error).toMatch(/after 4 attempts \(last status 503\)/);
    expect((await alertsFor(task.id)).map((a) => a.type)).toEqual(["task.failed"]);
    const recorded = await db
      .select()
      .from(webhookEvents)
      .where(eq(webhookEvents.event_id, `${body.sourceMessageId}:failure`));
    expect(recorded.map((e) => [e.source, e.status, e.attempts])).toEqual([["qstash", "processed", 1]]);
  });

  it("a callback signed for another URL is refused", async () => {
    const text = JSON.stringify({ status: 200, sourceMessageId: "m", sourceBody: "" });
    const res = await call(taskWebhook, "POST", "/webhook/task", {
      body: text,
      headers: { "upstash-signature": await broker.sign("http://app.test/api/workers/agent", text, "j") },
    });
    expect(res.status).toBe(401);
  });
});
