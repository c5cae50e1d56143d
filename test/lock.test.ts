import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { getRedis } from "../lib/kv";
import { acquireLock, tryLock } from "../lib/lock";

// The leases here are a minute where a test needs the lock held: a busy machine may take seconds
// between two calls, and a lease that ran out meanwhile would hand the lock to the wrong taker.
const held = 60_000;

describe("owner-token locks", () => {
  it("one holder at a time; released by its owner only", async () => {
    const key = `test-${randomUUID()}`;
    const first = await tryLock(key, held);
    expect(first).toBeDefined();
    expect(await tryLock(key, held)).toBeUndefined();
    // A stale holder (its token overwritten after its lease ran out) cannot free the new owner's lock.
    await getRedis().set(`lock:${key}`, "someone-else");
    expect(await first?.release()).toBe(false);
    expect(await getRedis().get(`lock:${key}`)).toBe("someone-else");
    await getRedis().del(`lock:${key}`);
    const second = await tryLock(key, held);
    expect(await second?.release()).toBe(true);
    expect(await tryLock(key, held)).toBeDefined();
  });

  it("of many concurrent takers exactly one wins", async () => {
    const key = `test-${randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 20 }, () => tryLock(key, held)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it("a waiter gets the lock when the holder releases it, and gives up at its deadline", async () => {
    const key = `test-${randomUUID()}`;
    const holder = await tryLock(key, held);
    expect(await acquireLock(key, held, 100)).toBeUndefined();
    // The release is the signal; the wait is only a safety net.
    const waiting = acquireLock(key, held, 60_000);
    await holder?.release();
    expect(await waiting).toBeDefined();
  });

  it("the lease expires on its own", async () => {
    const key = `test-${randomUUID()}`;
    await tryLock(key, 50);
    // Waiting longer than the lease only makes it more expired: a slow machine cannot fail this.
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await tryLock(key, held)).toBeDefined();
  });
});
