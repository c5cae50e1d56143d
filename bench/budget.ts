import { performance } from "node:perf_hooks";
import { eq } from "drizzle-orm";
import type { StandInModel } from "../test/stand-ins/openrouter";
import { percentile, round } from "./stats";

/**
 * Model spend under concurrency, on the bench's own database and Redis: `calls` model calls at
 * once, each with a ~30 KB prompt, against a workspace budget of 30,000 tokens. Reports what the
 * stand-in model billed (its own usage records) against the budget, how many calls ran, and what a
 * reservation and its settlement cost per call.
 */
export async function benchBudget(workspaceId: string, model: StandInModel, calls: number) {
  const { serviceDb } = await import("../lib/db/service");
  const { workspaces } = await import("../lib/db/schema");
  const { completeStructured } = await import("../lib/llm/complete");
  const { forgetLimits, reserve, settle } = await import("../lib/llm/budget");
  const { z } = await import("zod");
  const budget = 30_000;
  const db = await serviceDb();
  await db.update(workspaces).set({ token_budget_daily: budget }).where(eq(workspaces.id, workspaceId));
  forgetLimits(workspaceId);
  const before = model.requests.length;
  const sentence = "Two sacks of the Ethiopian roast, delivered Tuesday, invoiced net thirty. ";
  const outcomes = await Promise.allSettled(
    Array.from({ length: calls }, (_, i) =>
      completeStructured({
        agent: "engineer",
        workspaceId,
        userId: workspaceId,
        schema: z.object({ response: z.string() }),
        schemaName: "bench_budget",
        maxTokens: 3000,
        messages: [{ role: "user", content: `Order ${i}: ${sentence.repeat(400)}` }],
      }),
    ),
  );
  const answered = model.requests.slice(before);
  const billed = answered.reduce(
    (sum, request) =>
      sum + (request.usage ? request.usage.prompt_tokens + request.usage.completion_tokens : 0),
    0,
  );
  const largestReservation = Math.max(
    0,
    ...answered.map((request) => 2 * (request.usage?.prompt_tokens ?? 0) + (request.body.max_tokens ?? 0)),
  );

  // What the reservation itself costs a call: one Lua script and one pipelined settlement.
  const spender = { workspaceId, userId: workspaceId };
  await db
    .update(workspaces)
    .set({ token_budget_daily: 1_000_000_000 })
    .where(eq(workspaces.id, workspaceId));
  forgetLimits(workspaceId);
  const samples: number[] = [];
  for (let i = 0; i < 200; i++) {
    const started = performance.now();
    const reservation = await reserve(spender, {
      promptTokens: 1000,
      outputTokens: 1000,
      price: { input: 0.25, output: 1.25 },
    });
    await settle(reservation, { tokens: 1200, nanoUsd: 500_000 });
    samples.push(performance.now() - started);
  }
  return {
    concurrent_calls: calls,
    budget_tokens: budget,
    calls_answered: outcomes.filter((outcome) => outcome.status === "fulfilled").length,
    calls_refused: outcomes.filter(
      (outcome) =>
        outcome.status === "rejected" && (outcome.reason as { code?: string }).code === "budget_exceeded",
    ).length,
    tokens_billed: billed,
    billed_over_budget: Math.max(0, billed - budget),
    allowed_overshoot_one_reservation: largestReservation,
    reserve_settle_p50_ms: round(percentile(samples, 50), 2),
    reserve_settle_p95_ms: round(percentile(samples, 95), 2),
  };
}
