import { getConfig } from "../config";
import { ApiError } from "../http/errors";
import { getRedis } from "../kv";

const dayKey = (userId: string) => `llm:budget:${userId}:${new Date().toISOString().slice(0, 10)}`;

/** Refuses a call once the user's tokens for the UTC day reach the budget. Fails closed. */
export async function assertBudget(userId: string): Promise<void> {
  const used = Number((await getRedis().get<number>(dayKey(userId))) ?? 0);
  const budget = getConfig().LLM_DAILY_TOKEN_BUDGET;
  if (used >= budget) {
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    throw new ApiError(
      "budget_exceeded",
      `Daily token budget of ${budget} tokens is spent; it resets at 00:00 UTC`,
      {
        headers: { "retry-after": String(Math.ceil((midnight.getTime() - Date.now()) / 1000)) },
        retryable: false,
      },
    );
  }
}

export async function recordTokens(userId: string, tokens: number): Promise<void> {
  if (tokens <= 0) {
    return;
  }
  const key = dayKey(userId);
  await getRedis()
    .pipeline()
    .incrby(key, tokens)
    .expire(key, 2 * 86_400)
    .exec();
}
