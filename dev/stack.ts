import type { SqlEngine } from "../lib/db/client";
import { useEmbeddedDatabase } from "../lib/db/client";
import { useLocalRedis } from "../lib/kv";
import { openPglite } from "./db/pglite";
import { localRedisClient, redisRequester } from "./redis";

/**
 * Registers the local engines behind lib/db and lib/kv: PGlite when DATABASE_URL is unset (real
 * PostgreSQL otherwise), and real Redis at REDIS_URL or the embedded engine when no Upstash REST URL
 * is set. Returns a function that closes what it opened.
 */
export async function useLocalEngines(): Promise<() => Promise<void>> {
  let pglite: Promise<SqlEngine> | undefined;
  if (!process.env.DATABASE_URL) {
    const dir = process.env.PGLITE_DATA_DIR ?? "memory://";
    useEmbeddedDatabase(() => {
      pglite ??= openPglite(dir);
      return pglite;
    });
  }
  const redis = process.env.UPSTASH_REDIS_REST_URL
    ? undefined
    : await localRedisClient(process.env.REDIS_URL);
  if (redis) {
    useLocalRedis(redisRequester(redis));
  }
  return async () => {
    await redis?.quit().catch(() => {});
  };
}
