import { randomUUID } from "node:crypto";
import { eq, inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { cannedReply as canned } from "./stand-ins/canned";
import { addMember, createUser, tokenFor } from "./support/helpers";
import { model } from "./support/model";
import { startTestStack } from "./support/stack";

/**
 * Model spend under concurrency, measured where it is billed: the stand-in model's own usage
 * records. API calls and a multi-row frontend insert race for one small workspace budget; each call
 * reserves its upper bound atomically before it is made and settles to what was billed, so the
 * total billed stays within the budget plus one call's reservation, and the refused runs are 429
 * budget_exceeded (API) or failed tasks with that code (the frontend's), never half-run.
 */
let dev: DevServer;
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");

beforeAll(async () => {
  dev = await startTestStack({ AGENT_RATE_LIMIT_PER_MINUTE: "1000", LLM_CACHE_TTL_SECONDS: "0" });
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
});

afterAll(async () => {
  await dev?.close();
});

const today = () => new Date().toISOString().slice(0, 10);

async function redisNumber(key: string): Promise<number> {
  const { getRedis } = await import("../lib/kv");
  return Number((await getRedis().get<number>(key)) ?? 0);
}

async function setLimits(workspaceId: string, values: Partial<typeof db.workspaces.$inferInsert>) {
  const sqlDb = await service.serviceDb();
  await sqlDb.update(db.workspaces).set(values).where(eq(db.workspaces.id, workspaceId));
  const { forgetLimits } = await import("../lib/llm/budget");
  forgetLimits(workspaceId);
}

/** About `kilobytes` KB of ordinary business prose, different per call so nothing is cached. */
function bigContext(kilobytes: number, seed: string) {
  const sentence = `Order ${seed} from the Harbour Cafe: two sacks of the Ethiopian roast, delivered Tuesday, invoiced net thirty. `;
  return { notes: sentence.repeat(Math.ceil((kilobytes * 1024) / sentence.length)) };
}

async function engineer(userId: string, body: Record<string, unknown>) {
  const response = await fetch(`${dev.url}/api/agents/engineer`, {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenFor(userId)}`, "content-type": "application/json" },
    body: JSON.stringify({ user_id: userId, ...body }),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

const engineerCalls = (request: (typeof model.requests)[number]) =>
  request.body.response_format?.json_schema?.name === "engineer_answer";

describe("model budgets", () => {
  it("concurrent API calls and a multi-row frontend insert stay within the budget plus one reservation", async () => {
    const owner = await createUser();
    const budget = 30_000;
    await setLimits(owner, { token_budget_daily: budget });
    model.reset();
    // Answers take a moment, so the calls overlap at the model as well as at admission.
    model.fallback = (request) => ({ ...canned(request), delayMs: 150 });

    const api = Array.from({ length: 10 }, (_, i) =>
      engineer(owner, { prompt: `Review order ${i}`, context: bigContext(30, `api-${i}`) }),
    );
    const { asUser } = await import("../lib/db/as-user");
    const inserted = asUser({ id: owner }, async (tx) =>
      tx.execute(sql`insert into public.agent_tasks (agent_name, input)
        select 'engineer', jsonb_build_object('prompt', 'Review batch ' || n, 'context', ${JSON.stringify(bigContext(30, "row"))}::jsonb || jsonb_build_object('row', n))
        from generate_series(1, 10) as n
        returning id`),
    );
    const [answers, rows] = await Promise.all([Promise.all(api), inserted]);
    const { rowsOf } = await import("../lib/db/client");
    const frontendIds = rowsOf<{ id: string }>(rows).map((row) => row.id);
    expect(frontendIds).toHaveLength(10);
    await dev.broker.settle(300, 60_000);

    // Every API call either ran or was refused for the budget, with when it resets.
    for (const answer of answers) {
      if (answer.status !== 200) {
        expect(answer.status, JSON.stringify(answer.body)).toBe(429);
        expect(answer.body.error.code).toBe("budget_exceeded");
        expect(answer.body.error.details).toMatchObject({
          scope: "workspace",
          unit: "tokens",
          limit: budget,
        });
        expect(Date.parse(answer.body.error.details.resets_at)).toBeGreaterThan(Date.now());
        expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
      }
    }
    const sqlDb = await service.serviceDb();
    const tasks = await sqlDb.select().from(db.agentTasks).where(inArray(db.agentTasks.id, frontendIds));
    for (const task of tasks) {
      expect(["completed", "failed"], task.error ?? "").toContain(task.status);
      if (task.status === "failed") {
        expect((task.metadata as { error_code?: string }).error_code, task.error ?? "").toBe(
          "budget_exceeded",
        );
      }
    }
    expect(answers.filter((answer) => answer.status === 429).length).toBeGreaterThan(0);
    expect(tasks.filter((task) => task.status === "failed").length).toBeGreaterThan(0);

    // The model server's own records: what it billed, and what one call could reserve at most.
    const answered = model.requests.filter(engineerCalls);
    const billed = model.billedTokens(engineerCalls);
    const oneReservation = Math.max(
      ...answered.map((request) => 2 * (request.usage?.prompt_tokens ?? 0) + (request.body.max_tokens ?? 0)),
    );
    expect(answered.length).toBeGreaterThan(0);
    expect(billed).toBeLessThanOrEqual(budget + oneReservation);
    // Settled to exactly what was billed: the counter is the provider's sum, nothing still reserved.
    expect(await redisNumber(`llm:spend:${today()}:w:${owner}:tokens`)).toBe(billed);
    model.fallback = canned;
  });

  it("max_tokens is cut to what remains, and a call that cannot get a useful answer is refused unsent", async () => {
    const owner = await createUser();
    await setLimits(owner, { token_budget_daily: 4000 });
    model.reset();
    const { completeStructured } = await import("../lib/llm/complete");
    const { z } = await import("zod");
    const ask = (prompt: string) =>
      completeStructured({
        agent: "engineer",
        workspaceId: owner,
        userId: owner,
        schema: z.object({ response: z.string(), language: z.string().nullable() }),
        schemaName: "engineer_answer",
        maxTokens: 3000,
        messages: [{ role: "user", content: prompt }],
      });
    await ask("First question");
    const first = model.requests.at(-1);
    expect(first?.body.max_tokens).toBe(3000);
    const spent = await redisNumber(`llm:spend:${today()}:w:${owner}:tokens`);
    expect(spent).toBe(model.billedTokens());

    await ask("Second question");
    const second = model.requests.at(-1);
    // What remained after the first call, less the second prompt's bound.
    expect(second?.body.max_tokens).toBeLessThan(4000 - spent);
    expect(second?.body.max_tokens).toBeGreaterThanOrEqual(256);

    // Fill the budget to within less than a useful answer: refused before anything is sent.
    const { getRedis } = await import("../lib/kv");
    await getRedis().set(`llm:spend:${today()}:w:${owner}:tokens`, 3900);
    const before = model.requests.length;
    await expect(ask("Third question")).rejects.toMatchObject({ code: "budget_exceeded", status: 429 });
    expect(model.requests.length).toBe(before);
  });

  it("each member has their own share; the USD limit holds when the tokens would not", async () => {
    const owner = await createUser();
    const colleague = await createUser();
    await addMember(owner, colleague, "member");
    await setLimits(owner, { token_budget_daily: 100_000, member_token_budget_daily: 2000 });
    const { getRedis } = await import("../lib/kv");
    await getRedis().set(`llm:spend:${today()}:m:${owner}:${owner}:tokens`, 1900);

    const spentMember = await engineer(owner, { prompt: "One more", workspace_id: owner });
    expect(spentMember.status, JSON.stringify(spentMember.body)).toBe(429);
    expect(spentMember.body.error.details).toMatchObject({ scope: "member", unit: "tokens", limit: 2000 });
    const other = await engineer(colleague, { prompt: "My question", workspace_id: owner });
    expect(other.status, JSON.stringify(other.body)).toBe(200);

    // A USD limit below one call's reservation at the model's price refuses by USD.
    await setLimits(owner, { member_token_budget_daily: null, usd_budget_daily: "0.0001" });
    const priced = await engineer(colleague, { prompt: "Another question", workspace_id: owner });
    expect(priced.status, JSON.stringify(priced.body)).toBe(429);
    expect(priced.body.error.details).toMatchObject({ scope: "workspace", unit: "usd", limit: 0.0001 });
    // What was billed in USD is the provider's reported cost (the stand-in reports one).
    const nano = await redisNumber(`llm:spend:${today()}:w:${owner}:nusd`);
    expect(nano).toBeGreaterThan(0);
  });

  it("context over its caps is a 413 naming it, in bytes and in tokens, before anything is stored", async () => {
    const user = await createUser();
    const bytes = await engineer(user, { prompt: "Too much", context: bigContext(80, "b") });
    expect(bytes.status, JSON.stringify(bytes.body)).toBe(413);
    expect(bytes.body.error.details).toMatchObject({ field: "context", limit_bytes: 65_536 });
    // Under the byte cap but dense in tokens (numbers and ids tokenize short).
    const dense = {
      ids: Array.from({ length: 1500 }, () => randomUUID()),
    };
    const tokens = await engineer(user, { prompt: "Dense", context: dense });
    expect(tokens.status, JSON.stringify(tokens.body)).toBe(413);
    expect(tokens.body.error.details).toMatchObject({ field: "context", limit_tokens: 20_000 });
    const sqlDb = await service.serviceDb();
    const stored = await sqlDb.select().from(db.agentTasks).where(eq(db.agentTasks.user_id, user));
    expect(stored).toHaveLength(0);
  });
});
