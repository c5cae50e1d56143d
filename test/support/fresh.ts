import { vi } from "vitest";
import { localRedisClient, redisRequester } from "../../dev/redis";
import { getEngine } from "../../lib/db/client";

/**
 * A fresh module graph (configuration is read once per graph) with some environment changed, on the
 * same database as this file: the already open engine is handed over rather than a second embedded
 * engine opened on the same data directory. Returns a restore function.
 */
export async function withFreshModules(
  env: Record<string, string | undefined>,
): Promise<() => Promise<void>> {
  const saved = { ...process.env };
  const engine = process.env.DATABASE_URL ? undefined : await getEngine();
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) {
      delete process.env[key];
    } else {
      process.env[key] = value;
    }
  }
  vi.resetModules();
  const db = await import("../../lib/db/client");
  if (engine) {
    db.useEmbeddedDatabase(async () => engine);
  }
  if (!process.env.UPSTASH_REDIS_REST_URL) {
    (await import("../../lib/kv")).useLocalRedis(
      redisRequester(await localRedisClient(process.env.REDIS_URL)),
    );
  }
  return async () => {
    // The handed-over engine stays open for this file; one the fresh graph opened itself is closed.
    if (!engine) {
      await db.closeDatabase().catch(() => {});
    }
    process.env = saved;
    vi.resetModules();
  };
}
