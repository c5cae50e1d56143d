import { createHash } from "node:crypto";
import type { Requester, UpstashRequest, UpstashResponse } from "@upstash/redis";

/** The part of ioredis (and ioredis-mock) the transport needs. */
export interface CommandClient {
  call?(command: string, ...args: unknown[]): Promise<unknown>;
  multi(commands: unknown[][]): { exec(): Promise<[Error | null, unknown][] | null> };
  quit(): Promise<unknown>;
}

type Command = (string | number)[];

/**
 * Option keywords (`EX`, `NX`, `WITHSCORES`…) in upper case: Redis does not mind, ioredis-mock only
 * recognises them so, and the SDK sends them in lower case. Positions are per command so that values
 * and members are never touched.
 */
const optionKeywords = new Set([
  "ex",
  "px",
  "exat",
  "pxat",
  "nx",
  "xx",
  "gt",
  "lt",
  "keepttl",
  "get",
  "ch",
  "incr",
  "withscores",
  "limit",
  "byscore",
  "bylex",
  "rev",
  "match",
  "count",
  "type",
]);
const firstOptionIndex: Record<string, number> = {
  SET: 2,
  EXPIRE: 2,
  PEXPIRE: 2,
  ZADD: 1,
  ZRANGE: 3,
  ZRANGEBYSCORE: 3,
  ZREVRANGEBYSCORE: 3,
  SCAN: 1,
  HSCAN: 2,
  SSCAN: 2,
  ZSCAN: 2,
};

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

/**
 * Speaks the Upstash REST request shapes to a Redis client, so `@upstash/redis` (and
 * `@upstash/ratelimit` on top) run unchanged against real Redis or the embedded engine.
 *
 * Two differences from Upstash are bridged: Upstash accepts a `#!lua flags=…` first line that Redis
 * 7.0 rejects (stripped here, with EVALSHA hashes mapped), and ioredis hands HGETALL back as an object
 * where the wire format is a flat array.
 */
export function redisRequester(client: CommandClient): Requester {
  const shaAliases = new Map<string, string>();

  const normalise = (command: Command): Command => {
    const [name = "", ...args] = command;
    const upper = String(name).toUpperCase();
    const stripScript = (script: string) => {
      if (!script.startsWith("#!")) {
        return script;
      }
      const stripped = script.slice(script.indexOf("\n") + 1);
      shaAliases.set(sha1(script), sha1(stripped));
      return stripped;
    };
    if ((upper === "EVAL" || upper === "EVAL_RO") && typeof args[0] === "string") {
      return [upper, stripScript(args[0]), ...args.slice(1)];
    }
    if (upper === "SCRIPT" && String(args[0]).toUpperCase() === "LOAD" && typeof args[1] === "string") {
      return [upper, "LOAD", stripScript(args[1])];
    }
    if ((upper === "EVALSHA" || upper === "EVALSHA_RO") && typeof args[0] === "string") {
      return [upper, shaAliases.get(args[0]) ?? args[0], ...args.slice(1)];
    }
    const from = firstOptionIndex[upper];
    if (from === undefined) {
      return [upper, ...args];
    }
    return [
      upper,
      ...args.map((arg, index) =>
        index >= from && typeof arg === "string" && optionKeywords.has(arg.toLowerCase())
          ? arg.toUpperCase()
          : arg,
      ),
    ];
  };

  const wire = (value: unknown): unknown => {
    if (Buffer.isBuffer(value)) {
      return value.toString("utf8");
    }
    if (Array.isArray(value)) {
      return value.map(wire);
    }
    if (value && typeof value === "object") {
      return Object.entries(value).flatMap(([key, item]) => [key, wire(item)]);
    }
    return value ?? null;
  };

  const callOne = async (command: Command): Promise<UpstashResponse<unknown>> => {
    const [name = "", ...args] = normalise(command);
    try {
      const result = client.call
        ? await client.call(String(name), ...args)
        : await (client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
            String(name).toLowerCase()
          ]?.(...args);
      return { result: wire(result) };
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  };

  const callMany = async (commands: Command[], atomic: boolean) => {
    if (!atomic) {
      // A pipeline is only a batch on the wire; running it in order gives the same replies.
      const replies = [];
      for (const command of commands) {
        replies.push(await callOne(command));
      }
      return replies;
    }
    const normalised = commands.map((command) => {
      const [name = "", ...args] = normalise(command);
      return [String(name).toLowerCase(), ...args];
    });
    try {
      const replies = await client.multi(normalised).exec();
      return (replies ?? []).map(([error, result]) =>
        error ? { error: error.message } : { result: wire(result) },
      );
    } catch (error) {
      return commands.map(() => ({ error: error instanceof Error ? error.message : String(error) }));
    }
  };

  return {
    async request<TResult>(req: UpstashRequest): Promise<UpstashResponse<TResult>> {
      const path = req.path?.[0];
      if (path === "pipeline" || path === "multi-exec") {
        const results = await callMany(req.body as Command[], path === "multi-exec");
        return results as unknown as UpstashResponse<TResult>;
      }
      return (await callOne(req.body as Command)) as UpstashResponse<TResult>;
    },
  };
}

/** Real Redis at `url` (ioredis), or the embedded in-memory engine (ioredis-mock) when no url. */
export async function localRedisClient(url: string | undefined): Promise<CommandClient> {
  if (url) {
    const { Redis } = await import("ioredis");
    return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 }) as unknown as CommandClient;
  }
  const { default: RedisMock } = await import("ioredis-mock");
  return new RedisMock() as unknown as CommandClient;
}
