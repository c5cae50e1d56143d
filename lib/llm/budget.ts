import { eq } from "drizzle-orm";
import { getConfig } from "../config";
import { workspaces } from "../db/schema";
import { serviceDb } from "../db/service";
import { ApiError } from "../http/errors";
import { getRedis } from "../kv";

/**
 * Model spend per UTC day, for the workspace and for each member in it, in tokens and in USD.
 * A call reserves its upper bound before it is made (the prompt's token bound plus the output it
 * may write), atomically against all four limits, so concurrent calls can never together pass a
 * limit; the reservation is settled to what the provider billed once the answer is in, and given
 * back when the provider refused the call. USD is kept in integer nano-dollars so Redis adds
 * exactly.
 */
export interface Spender {
  workspaceId: string;
  userId: string;
}

export interface Limits {
  workspaceTokens: number;
  memberTokens: number;
  workspaceNanoUsd: number;
  memberNanoUsd: number;
}

export interface Reservation {
  keys: string[];
  tokens: number;
  nanoUsd: number;
  /** The `max_tokens` the call may ask for: what it wanted, or less when less remains. */
  outputTokens: number;
}

/** USD per million tokens, as providers publish prices. */
export interface Price {
  input: number;
  output: number;
}

const nanoPerUsd = 1e9;
export const toNanoUsd = (usd: number) => Math.round(usd * nanoPerUsd);
/** USD per million tokens as nano-dollars per token, rounded up so the bound stays a bound. */
const perToken = (usdPerMillion: number) => Math.ceil(usdPerMillion * 1000);

const scopes = [
  { scope: "workspace", unit: "tokens" },
  { scope: "member", unit: "tokens" },
  { scope: "workspace", unit: "usd" },
  { scope: "member", unit: "usd" },
] as const;

const day = (at = new Date()) => at.toISOString().slice(0, 10);

function keysOf(spender: Spender, on = day()): string[] {
  const workspace = `llm:spend:${on}:w:${spender.workspaceId}`;
  const member = `llm:spend:${on}:m:${spender.workspaceId}:${spender.userId}`;
  return [`${workspace}:tokens`, `${member}:tokens`, `${workspace}:nusd`, `${member}:nusd`];
}

const cached = new Map<string, { limits: Limits; until: number }>();

/** The workspace's limits (its own, else the deployment's defaults); read at most every 30 s. */
export async function limitsOf(workspaceId: string): Promise<Limits> {
  const hit = cached.get(workspaceId);
  if (hit && hit.until > Date.now()) {
    return hit.limits;
  }
  const config = getConfig();
  const db = await serviceDb();
  const [row] = await db
    .select({
      tokens: workspaces.token_budget_daily,
      memberTokens: workspaces.member_token_budget_daily,
      usd: workspaces.usd_budget_daily,
      memberUsd: workspaces.member_usd_budget_daily,
    })
    .from(workspaces)
    .where(eq(workspaces.id, workspaceId));
  const workspaceTokens = row?.tokens ?? config.LLM_DAILY_TOKEN_BUDGET;
  const workspaceUsd =
    row?.usd === null || row?.usd === undefined ? config.LLM_DAILY_USD_BUDGET : Number(row.usd);
  const memberUsd =
    row?.memberUsd === null || row?.memberUsd === undefined
      ? (config.LLM_MEMBER_DAILY_USD_BUDGET ?? workspaceUsd)
      : Number(row.memberUsd);
  const limits: Limits = {
    workspaceTokens,
    memberTokens: Math.min(
      workspaceTokens,
      row?.memberTokens ?? config.LLM_MEMBER_DAILY_TOKEN_BUDGET ?? workspaceTokens,
    ),
    workspaceNanoUsd: toNanoUsd(workspaceUsd),
    memberNanoUsd: toNanoUsd(Math.min(workspaceUsd, memberUsd)),
  };
  cached.set(workspaceId, { limits, until: Date.now() + 30_000 });
  return limits;
}

/** Forgets cached limits (after a workspace's limits change). */
export function forgetLimits(workspaceId?: string): void {
  if (workspaceId) {
    cached.delete(workspaceId);
  } else {
    cached.clear();
  }
}

// KEYS: workspace tokens, member tokens, workspace nano-USD, member nano-USD.
// ARGV: prompt tokens, wanted output, least useful output, input and output nano-USD per token,
// the four limits, TTL. The output allowed is the least any limit leaves; below the least useful
// output nothing is reserved and the binding limit (1-4) is returned.
const reserveScript = `
local p = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local least = tonumber(ARGV[3])
local pin = tonumber(ARGV[4])
local pout = tonumber(ARGV[5])
local ttl = tonumber(ARGV[10])
local best = want
local which = 0
for i = 1, 4 do
  local room = tonumber(ARGV[5 + i]) - tonumber(redis.call('GET', KEYS[i]) or '0')
  local out
  if i <= 2 then
    out = room - p
  else
    local left = room - p * pin
    if pout > 0 then
      out = math.floor(left / pout)
    elseif left >= 0 then
      out = want
    else
      out = -1
    end
  end
  if out < best then
    best = out
    which = i
  end
end
if best < least then
  return {0, which}
end
best = math.floor(best)
local tokens = math.floor(p + best)
local usd = math.floor(p * pin + best * pout)
for i = 1, 4 do
  local n = tokens
  if i > 2 then n = usd end
  redis.call('INCRBY', KEYS[i], n)
  redis.call('EXPIRE', KEYS[i], ttl)
end
return {1, best, tokens, usd}
`;

/** Seconds until the budgets reset (00:00 UTC), and that moment. */
function resetsAt(now = new Date()): { at: Date; seconds: number } {
  const at = new Date(now);
  at.setUTCHours(24, 0, 0, 0);
  return { at, seconds: Math.max(1, Math.ceil((at.getTime() - now.getTime()) / 1000)) };
}

function exceeded(which: number, limits: Limits, used?: number): ApiError {
  const { scope, unit } = scopes[Math.max(0, which - 1)] ?? scopes[0];
  const limit = [limits.workspaceTokens, limits.memberTokens, limits.workspaceNanoUsd, limits.memberNanoUsd][
    Math.max(0, which - 1)
  ] as number;
  const reset = resetsAt();
  const amount =
    unit === "tokens" ? `${limit.toLocaleString("en-US")} tokens` : `$${(limit / nanoPerUsd).toFixed(2)}`;
  const whose = scope === "workspace" ? "The workspace's" : "Your";
  return new ApiError(
    "budget_exceeded",
    `${whose} daily model budget of ${amount} does not cover this call; it resets at 00:00 UTC (${reset.at.toISOString()})`,
    {
      headers: { "retry-after": String(reset.seconds) },
      retryable: false,
      details: {
        scope,
        unit,
        limit: unit === "tokens" ? limit : limit / nanoPerUsd,
        ...(used === undefined ? {} : { used: unit === "tokens" ? used : used / nanoPerUsd }),
        resets_at: reset.at.toISOString(),
      },
    },
  );
}

/** The least output worth a call: a structured answer shorter than this is cut off unusable. */
export const leastOutputTokens = 256;

/**
 * Reserves a call's upper bound against the four limits at once; 429 budget_exceeded (with when
 * it resets) when any of them cannot cover the prompt and the least useful output.
 */
export async function reserve(
  spender: Spender,
  call: { promptTokens: number; outputTokens: number; price: Price },
): Promise<Reservation> {
  const limits = await limitsOf(spender.workspaceId);
  const keys = keysOf(spender);
  const least = Math.min(call.outputTokens, leastOutputTokens);
  const reply = (await getRedis().eval(reserveScript, keys, [
    call.promptTokens,
    call.outputTokens,
    least,
    perToken(call.price.input),
    perToken(call.price.output),
    limits.workspaceTokens,
    limits.memberTokens,
    limits.workspaceNanoUsd,
    limits.memberNanoUsd,
    2 * 86_400,
  ])) as number[];
  if (Number(reply[0]) !== 1) {
    throw exceeded(Number(reply[1]), limits);
  }
  return { keys, outputTokens: Number(reply[1]), tokens: Number(reply[2]), nanoUsd: Number(reply[3]) };
}

async function adjust(keys: string[], tokens: number, nanoUsd: number): Promise<void> {
  if (tokens === 0 && nanoUsd === 0) {
    return;
  }
  const pipeline = getRedis().pipeline();
  keys.forEach((key, i) => {
    pipeline.incrby(key, i < 2 ? tokens : nanoUsd);
  });
  await pipeline.exec();
}

/** The call was answered: the reservation becomes what the provider billed. */
export async function settle(
  reservation: Reservation,
  billed: { tokens: number; nanoUsd: number },
): Promise<void> {
  await adjust(reservation.keys, billed.tokens - reservation.tokens, billed.nanoUsd - reservation.nanoUsd);
}

/** The provider refused the call (nothing billed): the reservation is given back. */
export async function release(reservation: Reservation): Promise<void> {
  await adjust(reservation.keys, -reservation.tokens, -reservation.nanoUsd);
}

export interface Spend {
  tokens: { used: number; limit: number };
  usd: { used: number; limit: number };
}

/** Today's spend against the limits, for the workspace and for the member. */
export async function spendToday(
  spender: Spender,
): Promise<{ workspace: Spend; member: Spend; resets_at: string }> {
  const limits = await limitsOf(spender.workspaceId);
  const values = (await getRedis().mget<(number | string | null)[]>(...keysOf(spender))).map((value) =>
    Number(value ?? 0),
  );
  const [wt = 0, mt = 0, wu = 0, mu = 0] = values;
  return {
    workspace: {
      tokens: { used: wt, limit: limits.workspaceTokens },
      usd: { used: wu / nanoPerUsd, limit: limits.workspaceNanoUsd / nanoPerUsd },
    },
    member: {
      tokens: { used: mt, limit: limits.memberTokens },
      usd: { used: mu / nanoPerUsd, limit: limits.memberNanoUsd / nanoPerUsd },
    },
    resets_at: resetsAt().at.toISOString(),
  };
}

/**
 * Admission's early answer: 429 budget_exceeded before a task is stored when the workspace or the
 * member has less left than the least useful call. The reservation at call time is what holds.
 */
export async function assertBudget(spender: Spender): Promise<void> {
  const limits = await limitsOf(spender.workspaceId);
  const used = (await getRedis().mget<(number | string | null)[]>(...keysOf(spender))).map((value) =>
    Number(value ?? 0),
  );
  const rooms = [
    limits.workspaceTokens - (used[0] ?? 0) - leastOutputTokens,
    limits.memberTokens - (used[1] ?? 0) - leastOutputTokens,
    limits.workspaceNanoUsd - (used[2] ?? 0),
    limits.memberNanoUsd - (used[3] ?? 0),
  ];
  const which = rooms.findIndex((room, i) => (i < 2 ? room < 0 : room <= 0));
  if (which >= 0) {
    throw exceeded(which + 1, limits, used[which]);
  }
}
