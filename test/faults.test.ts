import { randomUUID } from "node:crypto";
import { and, eq, sql as raw } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { localRedisClient, redisRequester } from "../dev/redis";
import type { DevServer } from "../dev/server";
import { cannedReply } from "./stand-ins/canned";
import { startUpstashRest } from "./stand-ins/upstash-rest";
import { startDatabaseProxy, startPgliteServer } from "./support/db-proxy";
import { withFreshModules } from "./support/fresh";
import { secrets, tokenFor } from "./support/helpers";
import { model } from "./support/model";

/**
 * Faults through the dev server, with the database behind a TCP proxy that can be cut (real
 * PostgreSQL on the CI machine's services run; PGlite over its wire protocol otherwise) and Redis
 * behind the Upstash REST stand-in, which can answer as Upstash does in an outage. The database
 * going away before or in the middle of a run is a 503 with Retry-After, and the QStash job delivered
 * again completes the task once; with Redis gone, reads keep working, rate-limited paths refuse
 * (fail closed) before anything is stored, and the model cache is skipped (fail open).
 */
let dev: DevServer;
let proxy: Awaited<ReturnType<typeof startDatabaseProxy>>;
let pglite: Awaited<ReturnType<typeof startPgliteServer>> | undefined;
let restore: () => Promise<void>;
let redisOutage: (command: unknown[]) => boolean = () => false;
let closeRest: () => void;
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");

beforeAll(async () => {
  let databaseUrl: URL;
  if (process.env.DATABASE_URL) {
    databaseUrl = new URL(process.env.DATABASE_URL);
    proxy = await startDatabaseProxy({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) });
  } else {
    pglite = await startPgliteServer();
    databaseUrl = new URL("postgres://postgres@127.0.0.1/postgres");
    proxy = await startDatabaseProxy({ host: "127.0.0.1", port: pglite.port });
  }
  databaseUrl.hostname = "127.0.0.1";
  databaseUrl.port = String(proxy.port);
  const token = randomUUID();
  const rest = await startUpstashRest(
    redisRequester(await localRedisClient(process.env.REDIS_URL)),
    token,
    (command) => redisOutage(command),
  );
  closeRest = () => rest.server.close();
  restore = await withFreshModules({
    DATABASE_URL: databaseUrl.toString(),
    // PGlite is one session: one connection at a time.
    DATABASE_POOL_MAX: pglite ? "1" : "4",
    UPSTASH_REDIS_REST_URL: rest.url,
    UPSTASH_REDIS_REST_TOKEN: token,
    APP_URL: undefined,
    QSTASH_URL: undefined,
  });
  const { startDevServer } = await import("../dev/server");
  dev = await startDevServer({ port: 0, secrets, seed: false, retryDelayMs: () => 1500 });
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
});

afterAll(async () => {
  await dev?.close();
  await restore?.();
  await proxy?.close();
  await pglite?.close();
  closeRest?.();
});

async function newUser(): Promise<string> {
  const id = randomUUID();
  const sql = await service.serviceDb();
  await sql.execute(
    raw`insert into auth.users (id, email) values (${id}, ${`${id.slice(0, 8)}@example.test`})`,
  );
  return id;
}

async function ask(user: string, body: Record<string, unknown>, key = randomUUID()) {
  const response = await fetch(`${dev.url}/api/agents/product-manager`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await tokenFor(user)}`,
      "content-type": "application/json",
      "idempotency-key": key,
    },
    body: JSON.stringify({ user_id: user, ...body }),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: (await response.json()) as {
      success: boolean;
      data?: { task: { id: string; status: string } };
      error?: { code: string; message: string };
    },
  };
}

async function tasksOf(user: string) {
  const sql = await service.serviceDb();
  return sql.select().from(db.agentTasks).where(eq(db.agentTasks.user_id, user));
}

/** Polls a condition (the signal); the deadline is only a safety net, far above a loaded machine's need. */
const until = async (condition: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error("timed out waiting");
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

describe("the database going away", () => {
  it("before a request: 503 with Retry-After in the envelope; once it is back, the same request runs once", async () => {
    const user = await newUser();
    const key = randomUUID();
    await proxy.cut();
    let refused: Awaited<ReturnType<typeof ask>>;
    try {
      refused = await ask(user, { prompt: "Which feature first?" }, key);
    } finally {
      await proxy.restore();
    }
    expect(refused.status).toBe(503);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(refused.body).toMatchObject({ success: false, error: { code: "service_unavailable" } });

    // "Back" is when the backend says so: connections the cut left half-closed are found out and
    // replaced as health queries the database (a busy machine notices them late).
    await until(async () => (await fetch(`${dev.url}/api/health`)).status === 200);
    // A client honours Retry-After: a pooled connection health did not touch may still be found
    // dead by this request, which is answered 503 again and retried, never run twice.
    let accepted = await ask(user, { prompt: "Which feature first?" }, key);
    // Bounded by attempts, a minute's worth: a safety net, not the thing tested.
    for (let attempt = 0; attempt < 240 && accepted.status === 503; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      accepted = await ask(user, { prompt: "Which feature first?" }, key);
    }
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    const again = await ask(user, { prompt: "Which feature first?" }, key);
    expect(again.status).toBe(200);
    expect(await tasksOf(user)).toHaveLength(1);
  }, 180_000);

  it("in the middle of a background run: the worker answers 503, QStash delivers again, the task completes once", async () => {
    const user = await newUser();
    const before = model.requests.length;
    // The first model answer is held until the database has gone away: the worker is waiting for
    // it when the cut happens, however slowly this machine gets there (a fixed delay raced the cut).
    const fallback = model.fallback;
    let databaseCut: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      databaseCut = resolve;
    });
    let held = false;
    model.fallback = (request) => {
      const reply = cannedReply(request);
      if (!held) {
        held = true;
        return { ...reply, gate };
      }
      return reply;
    };
    try {
      const started = await ask(user, { prompt: "Plan the next release", async: true });
      expect(started.status).toBe(202);
      const taskId = started.body.data?.task.id ?? "";
      await until(() => model.requests.length > before);
      await proxy.cut();
      databaseCut();
      // The model answers, the worker cannot store it, and its delivery fails.
      await until(
        () =>
          [...dev.broker.messages.values()].some(
            (message) => message.url.endsWith("/api/workers/agent") && message.attempts.length > 0,
          ),
        60_000,
      );
      await proxy.restore();
      await until(async () => {
        const [task] = (await tasksOf(user)).filter((t) => t.id === taskId);
        return task?.status === "completed";
      }, 90_000);
      await dev.broker.settle(200, 60_000);

      const tasks = await tasksOf(user);
      expect(tasks).toHaveLength(1);
      expect(tasks[0]).toMatchObject({ status: "completed", error: null });
      expect(tasks[0]?.output).toBeTruthy();
      const message = [...dev.broker.messages.values()].find(
        (m) => m.url.endsWith("/api/workers/agent") && m.body.includes(taskId),
      );
      // Failed while the database was away (503, or no answer in time), then delivered again.
      const statuses = message?.attempts.map((attempt) => attempt.status) ?? [];
      expect(statuses[0]).not.toBe(200);
      expect(statuses.at(-1)).toBe(200);
      const sql = await service.serviceDb();
      const alerts = await sql
        .select()
        .from(db.alerts)
        .where(and(eq(db.alerts.user_id, user), eq(db.alerts.task_id, taskId)));
      expect(alerts).toHaveLength(1);
    } finally {
      databaseCut();
      model.fallback = fallback;
    }
  }, 300_000);
});

describe("Redis going away", () => {
  it("reads keep working; rate-limited agent calls fail closed (503, nothing stored); health names Redis", async () => {
    const user = await newUser();
    redisOutage = () => true;
    try {
      const list = await fetch(`${dev.url}/api/leads/${user}`, {
        headers: { authorization: `Bearer ${await tokenFor(user)}` },
      });
      expect(list.status).toBe(200);
      const refused = await ask(user, { prompt: "Anything" });
      expect(refused.status).toBe(503);
      expect(Number(refused.retryAfter)).toBeGreaterThan(0);
      expect(refused.body.error?.code).toBe("service_unavailable");
      expect(await tasksOf(user)).toHaveLength(0);
      const health = await fetch(`${dev.url}/api/health`);
      expect(health.status).toBe(503);
      expect(JSON.stringify(await health.json())).toContain("redis");
    } finally {
      redisOutage = () => false;
    }
  });

  it("the model cache fails open: unreadable, the model is asked and the answer still stored", async () => {
    const user = await newUser();
    const before = model.requests.length;
    redisOutage = (command) => String(command[1] ?? "").startsWith("llm:cache:");
    // The dev server runs in this module graph: its logger is this one.
    const { log } = await import("../lib/log");
    const warn = vi.spyOn(log, "warn");
    try {
      const first = await ask(user, { prompt: "Same question twice" });
      const second = await ask(user, { prompt: "Same question twice" });
      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      // Without the cache both were asked of the model; with it, the second would have been a hit.
      expect(model.requests.length - before).toBe(2);
      expect((await tasksOf(user)).map((task) => task.status)).toEqual(["completed", "completed"]);
      // And it says so.
      const messages = warn.mock.calls.map((call) => String(call[1] ?? call[0]));
      expect(messages).toContain("model cache unreadable: calling the model (fail open)");
      expect(messages).toContain("model cache unwritable: answer not cached (fail open)");
    } finally {
      warn.mockRestore();
      redisOutage = () => false;
    }
  });
});
