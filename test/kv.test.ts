import { randomUUID } from "node:crypto";
import { Ratelimit } from "@upstash/ratelimit";
import type { Redis } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { localRedisClient, redisRequester } from "../dev/redis";
import { startUpstashRest } from "./stand-ins/upstash-rest";

/**
 * lib/kv over each transport: the local one the harness registered (embedded engine, or real Redis
 * when REDIS_URL is set), and Upstash REST (the production path) against a REST stand-in.
 */
async function exercise(redis: Redis) {
  const key = `kv-test:${randomUUID()}`;
  await redis.set(key, { plan: "pro", seats: 3 }, { ex: 60 });
  expect(await redis.get(key)).toEqual({ plan: "pro", seats: 3 });
  await redis.set(`${key}:s`, "Grüße, 007");
  expect(await redis.get(`${key}:s`)).toBe("Grüße, 007");
  expect(await redis.incr(`${key}:n`)).toBe(1);
  expect(await redis.incr(`${key}:n`)).toBe(2);
  expect(await redis.ttl(key)).toBeGreaterThan(50);
  await redis.hset(`${key}:h`, { a: "1", b: "two" });
  expect(await redis.hgetall(`${key}:h`)).toEqual({ a: 1, b: "two" });
  const [first, second] = await redis.pipeline().incr(`${key}:p`).incr(`${key}:p`).exec();
  expect([first, second]).toEqual([1, 2]);
  expect(await redis.get(`${key}:missing`)).toBeNull();
}

async function exerciseRatelimit(redis: Redis) {
  // The windows are computed from the client's clock: frozen, five calls cannot straddle a window's
  // end however slowly a busy machine runs them (a real clock once let the fourth call through).
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now());
  try {
    await exerciseLimiters(redis);
  } finally {
    vi.useRealTimers();
  }
}

async function exerciseLimiters(redis: Redis) {
  for (const limiter of [Ratelimit.slidingWindow(3, "10 s"), Ratelimit.fixedWindow(3, "10 s")]) {
    const ratelimit = new Ratelimit({
      redis,
      limiter,
      prefix: `rl-test:${randomUUID()}`,
      ephemeralCache: false,
    });
    const results = [];
    for (let i = 0; i < 5; i++) {
      results.push(await ratelimit.limit("user-1"));
    }
    expect(results.map((r) => r.success)).toEqual([true, true, true, false, false]);
    expect(results[3]?.remaining).toBe(0);
    expect(results[3]?.reset).toBeGreaterThan(Date.now());
    // Another identifier has its own budget.
    expect((await ratelimit.limit("user-2")).success).toBe(true);
  }
}

describe("local transport (embedded engine, or REDIS_URL)", () => {
  it("round-trips values, hashes and pipelines", async () => {
    const { getRedis } = await import("../lib/kv");
    await exercise(getRedis());
  });

  it("runs @upstash/ratelimit's scripts", async () => {
    const { getRedis } = await import("../lib/kv");
    await exerciseRatelimit(getRedis());
  });
});

describe("Upstash REST transport (production path)", () => {
  let stop: () => Promise<void>;
  let restUrl: string;
  const token = `rest-${randomUUID()}`;

  beforeAll(async () => {
    const client = await localRedisClient(process.env.REDIS_URL);
    const { url, server } = await startUpstashRest(redisRequester(client), token);
    restUrl = url;
    stop = async () => {
      server.close();
      await client.quit();
    };
  });
  afterAll(() => stop());

  async function restClient(withToken: string) {
    vi.resetModules();
    process.env.UPSTASH_REDIS_REST_URL = restUrl;
    process.env.UPSTASH_REDIS_REST_TOKEN = withToken;
    try {
      const { getRedis } = await import("../lib/kv");
      return getRedis();
    } finally {
      delete process.env.UPSTASH_REDIS_REST_URL;
      delete process.env.UPSTASH_REDIS_REST_TOKEN;
    }
  }

  it("round-trips through URL + token, with base64-encoded replies", async () => {
    await exercise(await restClient(token));
  });

  it("runs @upstash/ratelimit", async () => {
    await exerciseRatelimit(await restClient(token));
  });

  it("a wrong token is refused", async () => {
    const redis = await restClient("wrong");
    await expect(redis.get("anything")).rejects.toThrow(/Unauthorized/);
  });
});
