import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { getRedis } from "../lib/kv";
import { acquireLock, tryLock } from "../lib/lock";

describe("owner-token locks", () => {
  it("one holder at a time; released by its owner only", async () => {
    const key = `test-${randomUUID()}`;
    const first = await tryLock(key, 5_000);
    expect(first).toBeDefined();
    expect(await tryLock(key, 5_000)).toBeUndefined();
    // A stale holder (its token overwritten after its lease ran out) cannot free the new owner's lock.
    await getRedis().set(`lock:${key}`, "someone-else");
    expect(await first?.release()).toBe(false);
    expect(await getRedis().get(`lock:${key}`)).toBe("someone-else");
    await getRedis().del(`lock:${key}`);
    const second = await tryLock(key, 5_000);
    expect(await second?.release()).toBe(true);
    expect(await tryLock(key, 5_000)).toBeDefined();
  });

  it("of many concurrent takers exactly one wins", async () => {
    const key = `test-${randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 20 }, () => tryLock(key, 5_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it("a waiter gets the lock when the holder releases it, and gives up at its deadline", async () => {
    const key = `test-${randomUUID()}`;
    const holder = await tryLock(key, 5_000);
    expect(await acquireLock(key, 5_000, 100)).toBeUndefined();
    const waiting = acquireLock(key, 5_000, 5_000);
    await holder?.release();
    expect(await waiting).toBeDefined();
  });

  it("the lease expires on its own", async () => {
    const key = `test-${randomUUID()}`;
    await tryLock(key, 50);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await tryLock(key, 5_000)).toBeDefined();
  });
});
