import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { asUser } from "../lib/db/as-user";
import { agentTasks, alerts, calendarEvents, callScripts, leads, productInsights } from "../lib/db/schema";
import { serviceDb } from "../lib/db/service";
import { createUser, insertTaskAsFrontend, tokenFor } from "./support/helpers";
import { model } from "./support/model";
import { startTestStack } from "./support/stack";

/**
 * Background runs end to end through the dev server: the async API path (202 → QStash → worker →
 * callback), the database-trigger path (a row the frontend inserts under RLS is run by the agent),
 * redelivery, and an agent consulting another through its endpoint with an agent token.
 */
let dev: DevServer;

beforeAll(async () => {
  dev = await startTestStack();
});

afterAll(async () => {
  await dev?.close();
});

async function task(id: string) {
  const db = await serviceDb();
  const [row] = await db.select().from(agentTasks).where(eq(agentTasks.id, id));
  return row;
}

/**
 * Waits until the task reaches a final status (the signal), bounded by rounds, at least a minute's
 * worth: a safety net for a loaded machine, not a budget.
 */
async function finished(id: string) {
  for (let i = 0; i < 1200; i++) {
    await dev.broker.settle(100, 60_000);
    const row = await task(id);
    if (row && (row.status === "completed" || row.status === "failed")) {
      return row;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`task ${id} did not finish`);
}

async function alertsOf(taskId: string) {
  const db = await serviceDb();
  return db.select().from(alerts).where(eq(alerts.task_id, taskId));
}

describe("background runs", () => {
  it('"async": true answers 202, runs through QStash, and the callback tells the user', async () => {
    const user = await createUser();
    const response = await fetch(`${dev.url}/api/agents/engineer`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: user, prompt: `Write add() ${randomUUID()}`, async: true }),
    });
    expect(response.status).toBe(202);
    const { data } = await response.json();
    expect(data.task.status).toBe("queued");
    const done = await finished(data.task.id);
    expect(done.status).toBe("completed");
    expect((done.output as { code_blocks: unknown[] }).code_blocks).toHaveLength(2);
    await dev.broker.settle(50, 60_000);
    expect((await alertsOf(data.task.id)).map((a) => a.type)).toEqual(["task.completed"]);
  });

  it("a task the frontend inserts as queued under RLS is run by the agent through the trigger", async () => {
    const user = await createUser();
    // Only what the frontend has to say: the agent and the input; the member and workspace follow.
    const inserted = await insertTaskAsFrontend(user, {
      agent_name: "product-manager",
      input: { prompt: `What should we build next? ${randomUUID()}` },
    });
    expect(inserted).toMatchObject({ status: "queued", workspace_id: user });
    const done = await finished(inserted?.id ?? "");
    expect(done.status).toBe("completed");
    const db = await serviceDb();
    const insights = await db.select().from(productInsights).where(eq(productInsights.user_id, user));
    expect(insights).toHaveLength(2);
    expect(insights.every((insight) => insight.task_id === inserted?.id)).toBe(true);
  });

  it("call prep for a meeting is asked for by inserting a task; the frontend cannot add meetings itself", async () => {
    const user = await createUser();
    const db = await serviceDb();
    const [lead] = await db
      .insert(leads)
      .values({
        workspace_id: user,
        user_id: user,
        name: "Noor Haddad",
        email: "noor@quay-bakery.example",
        company: "Quay Bakery",
        role: "Owner",
      })
      .returning();
    const start = new Date(Date.now() + 3 * 86_400_000).toISOString();
    // Meetings are written by the booking and the calendar sync, never through a member's session.
    await expect(
      asUser({ id: user }, (tx) =>
        tx.execute(
          sql`insert into public.calendar_events (workspace_id, user_id, title, start_time) values (${user}, ${user}, 'Mine', ${start})`,
        ),
      ),
    ).rejects.toThrow();
    const [meeting] = await db
      .insert(calendarEvents)
      .values({
        workspace_id: user,
        user_id: user,
        lead_id: lead?.id,
        title: "Call with Noor",
        start_time: start,
      })
      .returning();
    // The backend's own meeting starts nothing by itself.
    await dev.broker.settle(200, 60_000);
    expect(await db.select().from(agentTasks).where(eq(agentTasks.user_id, user))).toHaveLength(0);
    const task = await insertTaskAsFrontend(user, {
      agent_name: "booking-callprep",
      input: { calendar_event_id: meeting?.id, prompt: "Prepare me for this call." },
    });
    const done = await finished(task.id);
    expect(done.status, JSON.stringify(done)).toBe("completed");
    const [script] = await db.select().from(callScripts).where(eq(callScripts.user_id, user));
    expect(script).toMatchObject({ calendar_event_id: meeting?.id, lead_id: lead?.id, task_id: task.id });
    expect(script?.sources).toEqual(expect.arrayContaining([expect.objectContaining({ ref: "lead.name" })]));
    // Nothing was booked: still the one meeting.
    expect(await db.select().from(calendarEvents).where(eq(calendarEvents.user_id, user))).toHaveLength(1);
  });

  it("a frontend task with an invalid input fails at the trigger's admission: invalid_input, nothing run", async () => {
    const user = await createUser();
    const modelCalls = model.requests.length;
    // Neither user_id nor workspace_id in the input (the row's are used); the prompt is empty.
    const invalid = await insertTaskAsFrontend(user, { agent_name: "engineer", input: { prompt: "" } });
    const done = await finished(invalid.id);
    expect(done.status).toBe("failed");
    expect(done.metadata).toMatchObject({ error_code: "invalid_input", retryable: false });
    // The message the endpoint's own schema gives for the same body as a 400, naming the first bad path.
    const api = await fetch(`${dev.url}/api/agents/engineer`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: user, prompt: "" }),
    });
    expect(api.status).toBe(400);
    const refusal = (await api.json()).error as { code: string; message: string };
    expect(refusal.message).toMatch(/^body\.prompt: /);
    expect(done.error).toBe(refusal.message.replace(/^body\./, "input."));
    expect(done.error).not.toMatch(/Internal server error/);
    // Never published to the worker, so never run, never retried; the model was not asked.
    await dev.broker.settle(100, 60_000);
    const jobs = [...dev.broker.messages.values()].filter(
      (m) => m.url.endsWith("/api/workers/agent") && m.body.includes(invalid.id),
    );
    expect(jobs).toEqual([]);
    expect(model.requests.length).toBe(modelCalls);
    expect((await alertsOf(invalid.id)).map((alert) => alert.type)).toEqual(["task.failed"]);

    // The same agent with a good input, still without user_id in it, runs to completed.
    const good = await insertTaskAsFrontend(user, {
      agent_name: "engineer",
      input: { prompt: `Write add() ${randomUUID()}` },
    });
    const ran = await finished(good.id);
    expect(ran.status, JSON.stringify(ran)).toBe("completed");
    expect(ran.user_id).toBe(user);
    expect(ran.input).not.toHaveProperty("user_id");
    expect(model.requests.length).toBeGreaterThan(modelCalls);
  });

  it("the row's member and workspace win over what the browser wrote in the input", async () => {
    const user = await createUser();
    const other = await createUser();
    const task = await insertTaskAsFrontend(user, {
      agent_name: "engineer",
      input: { user_id: other, workspace_id: other, prompt: `Write sub() ${randomUUID()}` },
    });
    const done = await finished(task.id);
    expect(done.status, JSON.stringify(done)).toBe("completed");
    expect(done).toMatchObject({ user_id: user, workspace_id: user });
  });

  it("a validation error later in the worker is permanent: invalid_input, one delivery, no retry", async () => {
    const user = await createUser();
    const modelCalls = model.requests.length;
    const db = await serviceDb();
    // A task admitted by the API whose stored input its agent's schema refuses when the worker reads it.
    const [row] = await db
      .insert(agentTasks)
      .values({
        workspace_id: user,
        user_id: user,
        agent_name: "engineer",
        status: "queued",
        input: { prompt: "x", language: "x".repeat(41) },
        metadata: { admitted_at: new Date().toISOString(), admitted_by: "api" },
      })
      .returning();
    const { dispatchTask } = await import("../lib/tasks/dispatch");
    await dispatchTask(row?.id ?? "");
    const done = await finished(row?.id ?? "");
    expect(done.status).toBe("failed");
    expect(done.metadata).toMatchObject({ error_code: "invalid_input", retryable: false });
    expect(done.error).toMatch(/^input\.language: /);
    const job = [...dev.broker.messages.values()].find(
      (m) => m.url.endsWith("/api/workers/agent") && m.body.includes(row?.id ?? "-"),
    );
    expect(job?.attempts.map((attempt) => attempt.status)).toEqual([200]);
    expect(model.requests.length).toBe(modelCalls);
  });

  it("a redelivered job runs nothing twice", async () => {
    const user = await createUser();
    const response = await fetch(`${dev.url}/api/agents/engineer`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: user, prompt: `Once only ${randomUUID()}`, async: true }),
    });
    const { data } = await response.json();
    await finished(data.task.id);
    const before = model.callsFor("engineer_answer").length;
    // The same job again, as QStash would redeliver it after a lost acknowledgement.
    const body = JSON.stringify({ task_id: data.task.id });
    const again = await fetch(`${dev.url}/api/workers/agent`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "upstash-signature": await dev.broker.sign(`${dev.url}/api/workers/agent`, body, randomUUID()),
      },
      body,
    });
    expect(again.status).toBe(200);
    expect((await again.json()).data.outcome).toBe("already_done");
    expect(model.callsFor("engineer_answer").length).toBe(before);
  });

  it("a transient model failure is retried by QStash and then succeeds", async () => {
    const user = await createUser();
    model.fallback = () => ({ status: 503 });
    const response = await fetch(`${dev.url}/api/agents/engineer`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: user, prompt: `Flaky ${randomUUID()}`, async: true }),
    });
    const { data } = await response.json();
    // Let the first delivery fail (the broker's retry count is the signal; the bound, two minutes, a
    // safety net), then bring the model back.
    for (let i = 0; i < 2400 && ![...dev.broker.messages.values()].some((m) => m.retried > 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect([...dev.broker.messages.values()].some((m) => m.retried > 0)).toBe(true);
    model.fallback = (await import("./stand-ins/canned")).cannedReply;
    const done = await finished(data.task.id);
    expect(done.status).toBe("completed");
    // Between the attempts the task was only put back in the queue: it carries no error or its code.
    expect(done.error).toBeNull();
    expect(done.metadata).not.toHaveProperty("error_code");
    // QStash called back after the failed attempt too; that callback changed nothing, and the
    // user heard of the task once, as completed.
    await dev.broker.settle(200, 60_000);
    const told = await alertsOf(data.task.id);
    expect(told.map((alert) => alert.type)).toEqual(["task.completed"]);
    // The retry waited what the worker's 503 asked (Retry-After: 30), as QStash does.
    const job = [...dev.broker.messages.values()].find(
      (message) => message.url.endsWith("/api/workers/agent") && message.body.includes(data.task.id),
    );
    expect(job?.attempts[0]).toMatchObject({ status: 503, retryDelayMs: 30_000 });
  });

  it("a run failing on every attempt fails once, on the last, and the user hears it once", async () => {
    const user = await createUser();
    model.fallback = () => ({ status: 503 });
    try {
      const response = await fetch(`${dev.url}/api/agents/engineer`, {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" },
        body: JSON.stringify({ user_id: user, prompt: `Always down ${randomUUID()}`, async: true }),
      });
      const { data } = await response.json();
      const done = await finished(data.task.id);
      await dev.broker.settle(200, 60_000);
      expect(done.status).toBe("failed");
      expect(done.error).toMatch(/No model could answer/);
      const job = [...dev.broker.messages.values()].find(
        (message) => message.url.endsWith("/api/workers/agent") && message.body.includes(data.task.id),
      );
      // Four attempts: three answered 503 (each retried after its Retry-After), the last recorded
      // the failure and was acknowledged.
      expect(job?.attempts.map((attempt) => [attempt.status, attempt.retryDelayMs])).toEqual([
        [503, 30_000],
        [503, 30_000],
        [503, 30_000],
        [200, undefined],
      ]);
      const told = await alertsOf(data.task.id);
      expect(told.map((alert) => alert.type)).toEqual(["task.failed"]);
    } finally {
      model.fallback = (await import("./stand-ins/canned")).cannedReply;
    }
  });
});

describe("agent-to-agent", () => {
  it("the Marketing Strategist consults the Product Manager through its endpoint when it has no recent insights", async () => {
    const user = await createUser();
    const response = await fetch(`${dev.url}/api/agents/marketing-strategist`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: user, prompt: `Plan the winter campaign ${randomUUID()}` }),
    });
    expect(response.status).toBe(200);
    const { data } = await response.json();
    const delegated = (data.task.metadata as { delegated_to?: { agent: string; task_id: string } })
      .delegated_to;
    expect(delegated?.agent).toBe("product-manager");
    const child = await task(delegated?.task_id ?? "");
    expect(child?.agent_name).toBe("product-manager");
    expect(child?.parent_task_id).toBe(data.task.id);
    expect(child?.user_id).toBe(user);
    // The strategist planned with the insights the consultation produced.
    const [request] = model.callsFor("marketing_campaigns").slice(-1);
    const context = request?.body.messages.find((m) => m.content.startsWith("Context about this business"));
    expect(context?.content).toContain("Wholesale customers reorder every three weeks");
  });
});
