import { Redis, type Requester } from "@upstash/redis";
import { getConfig } from "./config";

let client: Redis | undefined;
let localRequester: Requester | undefined;

/**
 * Lets the local stack supply a transport (real Redis at REDIS_URL, or the embedded engine) when no
 * Upstash REST URL is configured. Product code only ever sees the `@upstash/redis` client.
 */
export function useLocalRedis(requester: Requester): void {
  localRequester = requester;
  client = undefined;
}

/** The process's Redis client: Upstash REST in production, a local transport in development. */
export function getRedis(): Redis {
  if (!client) {
    const config = getConfig();
    if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
      client = new Redis({
        url: config.UPSTASH_REDIS_REST_URL,
        token: config.UPSTASH_REDIS_REST_TOKEN,
        enableTelemetry: false,
        retry: { retries: 2, backoff: (attempt) => Math.min(1000, 50 * 2 ** attempt) },
      });
    } else if (localRequester) {
      client = new Redis(localRequester);
    } else {
      throw new Error(
        "UPSTASH_REDIS_REST_URL/UPSTASH_REDIS_REST_TOKEN are not set and no local Redis is running (start with `npm run dev`)",
      );
    }
  }
  return client;
}

export async function pingRedis(): Promise<void> {
  const reply = await getRedis().ping();
  if (reply !== "PONG") {
    throw new Error(`unexpected PING reply ${String(reply)}`);
  }
}
