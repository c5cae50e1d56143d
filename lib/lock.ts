import { randomUUID } from "node:crypto";
import { getRedis } from "./kv";

/**
 * A lock in Redis with an owner token: taken with SET NX PX, released only by its owner through a
 * compare-and-delete script, so a holder whose lease ran out can never free someone else's lock.
 */
const releaseScript = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

export interface Lock {
  key: string;
  token: string;
  release(): Promise<boolean>;
}

export async function tryLock(key: string, leaseMs: number): Promise<Lock | undefined> {
  const token = randomUUID();
  const taken = await getRedis().set(`lock:${key}`, token, { nx: true, px: leaseMs });
  if (taken !== "OK") {
    return undefined;
  }
  return {
    key,
    token,
    release: async () => Number(await getRedis().eval(releaseScript, [`lock:${key}`], [token])) === 1,
  };
}

/** Waits for the lock (polling with jitter) until `waitMs` runs out. */
export async function acquireLock(key: string, leaseMs: number, waitMs: number): Promise<Lock | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const lock = await tryLock(key, leaseMs);
    if (lock || Date.now() >= deadline) {
      return lock;
    }
    await new Promise((resolve) => setTimeout(resolve, 25 + Math.random() * 50));
  }
}
