import { z } from "zod";
import { getConfig } from "./config";
import { pingDatabase } from "./db/service";
import { okEnvelope } from "./http/responses";
import { pingRedis } from "./kv";
import { log } from "./log";

const checkResult = z.object({ ok: z.boolean(), ms: z.number(), detail: z.string().optional() });
export type CheckResult = z.output<typeof checkResult>;

/** `GET /api/health`'s 200 answer (the OpenAPI document declares this schema). */
export const healthAnswer = okEnvelope(
  z.object({ status: z.literal("ok"), checks: z.record(z.string(), checkResult) }),
).meta({ id: "Health" });

const timeout = (ms: number) =>
  new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref(),
  );

async function check(name: string, probe: () => Promise<void>, budgetMs = 2000): Promise<CheckResult> {
  const started = performance.now();
  try {
    await Promise.race([probe(), timeout(budgetMs)]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (error) {
    // The reason goes to the log; the public answer only says what is down.
    log.warn({ check: name, err: error }, "health check failed");
    return { ok: false, ms: Math.round(performance.now() - started), detail: "unreachable" };
  }
}

/** Database and Redis round trips, and whether QStash publishing and verification are configured. */
export async function checkHealth() {
  const config = getConfig();
  const [database, redis] = await Promise.all([check("database", pingDatabase), check("redis", pingRedis)]);
  // QStash has no free ping, and its token and keys are required by the config schema, so this
  // reports the configuration rather than a round trip.
  const queue: CheckResult = {
    ok: Boolean(config.QSTASH_TOKEN && config.QSTASH_CURRENT_SIGNING_KEY && config.QSTASH_NEXT_SIGNING_KEY),
    ms: 0,
    detail: `configured (${new URL(config.QSTASH_URL).host})`,
  };
  const checks = { database, redis, queue };
  const down = Object.entries(checks)
    .filter(([, result]) => !result.ok)
    .map(([name]) => name);
  return { healthy: down.length === 0, down, checks };
}
