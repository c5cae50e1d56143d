import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { Client } from "@upstash/qstash";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type BrokerOptions, QStashBroker } from "../dev/qstash-broker";
import { parseDelay, parseRetryAt } from "../dev/qstash-formats";
import { secrets } from "./support/helpers";

/**
 * The local broker held to QStash's documentation, each case citing the page it follows
 * (https://upstash.com/docs/qstash/...). Publishing goes through the @upstash/qstash SDK, as the
 * product publishes; the destination is a small server whose answers each test scripts.
 */
type Answer = { status: number; headers?: Record<string, string> };
let server: Server;
let baseUrl: string;
let answers: Answer[] = [];
let arrivals: { at: number; path: string; retried: number; body: string }[] = [];
const brokers: QStashBroker[] = [];
let current: QStashBroker;

beforeAll(async () => {
  server = createServer(
    getRequestListener(async (request) => {
      const path = new URL(request.url).pathname;
      if (path.startsWith("/__qstash/")) {
        return current.handle(request, path.slice("/__qstash".length));
      }
      arrivals.push({
        at: Date.now(),
        path,
        retried: Number(request.headers.get("upstash-retried")),
        body: await request.text(),
      });
      if (path.startsWith("/callback")) {
        return Response.json({ ok: true });
      }
      const answer = answers.shift() ?? { status: 200 };
      return new Response(JSON.stringify({ answered: answer.status }), {
        status: answer.status,
        headers: { "content-type": "application/json", ...answer.headers },
      });
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  for (const broker of brokers) {
    broker.close();
  }
  server.close();
});

beforeEach(() => {
  answers = [];
  arrivals = [];
  useBroker({});
});

function useBroker(options: Partial<BrokerOptions>): QStashBroker {
  current = new QStashBroker({
    token: secrets.qstashToken,
    currentSigningKey: secrets.qstashCurrentSigningKey,
    ...options,
  });
  brokers.push(current);
  return current;
}

const client = () =>
  new Client({ baseUrl: `${baseUrl}/__qstash`, token: secrets.qstashToken, enableTelemetry: false });

async function raw(path: string, init: RequestInit = {}) {
  const response = await fetch(`${baseUrl}/__qstash${path}`, {
    ...init,
    headers: { authorization: `Bearer ${secrets.qstashToken}`, ...init.headers },
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const callbacks = () =>
  arrivals
    .filter((arrival) => arrival.path.startsWith("/callback"))
    .map((arrival) => ({ path: arrival.path, ...JSON.parse(arrival.body) }))
    .sort((a, b) => a.retried - b.retried);

describe("retries (https://upstash.com/docs/qstash/features/retry)", () => {
  it("waits the destination's Retry-After before the next attempt", async () => {
    answers = [{ status: 503, headers: { "retry-after": "1" } }, { status: 200 }];
    const { messageId } = await client().publishJSON({ url: `${baseUrl}/job`, body: { n: 1 }, retries: 2 });
    await current.settle(1500, 60_000);
    const jobs = arrivals.filter((arrival) => arrival.path === "/job");
    expect(jobs.map((job) => job.retried)).toEqual([0, 1]);
    // At least the second it asked for, whatever the machine's speed.
    expect((jobs[1]?.at ?? 0) - (jobs[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    expect(current.messages.get(messageId)?.attempts[0]?.retryDelayMs).toBe(1000);
  });

  it("reads Retry-After as seconds, a duration or an RFC 1123 date, and X-RateLimit-Reset* too; past a day, its backoff", async () => {
    useBroker({ retryDelayMs: () => 5 });
    // The date's delay is measured when the attempt is answered, somewhere between now and the end
    // of the settle: bracketed by the two, however long a busy machine takes in between.
    const before = Date.now();
    const due = Math.ceil((before + 120_000) / 1000) * 1000;
    const inTwoMinutes = new Date(due).toUTCString();
    answers = [
      { status: 429, headers: { "retry-after": "6m5s" } },
      { status: 429, headers: { "x-ratelimit-reset": "30" } },
      { status: 429, headers: { "x-ratelimit-reset-tokens": "1500ms" } },
      { status: 503, headers: { "retry-after": inTwoMinutes } },
      { status: 503, headers: { "retry-after": "172800" } },
      { status: 200 },
    ];
    const { messageId } = await client().publishJSON({ url: `${baseUrl}/job`, body: { n: 2 }, retries: 5 });
    await current.settle(200, 60_000);
    const after = Date.now();
    const delays = current.messages.get(messageId)?.attempts.map((attempt) => attempt.retryDelayMs);
    expect(delays?.slice(0, 3)).toEqual([365_000, 30_000, 1500]);
    expect(delays?.[3]).toBeGreaterThanOrEqual(due - after);
    expect(delays?.[3]).toBeLessThanOrEqual(due - before);
    // Two days is beyond what a header may ask: QStash's backoff for retry 5, min(86400, e^12.5) s.
    expect(delays?.[4]).toBe(86_400_000);
    expect(delays?.[5]).toBeUndefined();
  });

  it("without a header, waits min(86400, e^(2.5n)) seconds", async () => {
    useBroker({ retryDelayMs: () => 5 });
    answers = [{ status: 500 }, { status: 500 }, { status: 200 }];
    const { messageId } = await client().publishJSON({ url: `${baseUrl}/job`, body: { n: 3 } });
    await current.settle(200, 60_000);
    const delays = current.messages.get(messageId)?.attempts.map((attempt) => attempt.retryDelayMs);
    expect(delays).toEqual([Math.exp(2.5) * 1000, Math.exp(5) * 1000, undefined]);
  });

  it("489 with Upstash-NonRetryable-Error goes to the DLQ at once; 489 alone is retried", async () => {
    useBroker({ retryDelayMs: () => 5 });
    answers = [{ status: 489, headers: { "upstash-nonretryable-error": "true" } }];
    const dead = await client().publishJSON({
      url: `${baseUrl}/job`,
      body: { n: 4 },
      retries: 3,
      failureCallback: `${baseUrl}/callback/failed`,
    });
    await current.settle(200, 60_000);
    expect(arrivals.filter((arrival) => arrival.path === "/job")).toHaveLength(1);
    const entry = [...current.dlq.values()].find((item) => item.messageId === dead.messageId);
    expect(entry?.responseStatus).toBe(489);
    expect(callbacks().map((callback) => [callback.path, callback.status, callback.dlqId])).toEqual([
      ["/callback/failed", 489, entry?.dlqId],
    ]);

    arrivals = [];
    answers = [{ status: 489 }, { status: 200 }];
    await client().publishJSON({ url: `${baseUrl}/job`, body: { n: 5 }, retries: 3 });
    await current.settle(200, 60_000);
    expect(arrivals.filter((arrival) => arrival.path === "/job")).toHaveLength(2);
  });
});

describe("callbacks (https://upstash.com/docs/qstash/features/callbacks)", () => {
  it("calls the callback after every attempt with retried and maxRetries, the failure callback once with the DLQ id", async () => {
    useBroker({ retryDelayMs: () => 5 });
    answers = [{ status: 503 }, { status: 503 }, { status: 503 }];
    const { messageId } = await client().publishJSON({
      url: `${baseUrl}/job`,
      body: { n: 6 },
      retries: 2,
      callback: `${baseUrl}/callback/done`,
      failureCallback: `${baseUrl}/callback/failed`,
    });
    await current.settle(200, 60_000);
    const seen = callbacks();
    expect(
      seen
        .filter((callback) => callback.path === "/callback/done")
        .map((c) => [c.status, c.retried, c.maxRetries]),
    ).toEqual([
      [503, 0, 2],
      [503, 1, 2],
      [503, 2, 2],
    ]);
    const failure = seen.filter((callback) => callback.path === "/callback/failed");
    expect(failure).toHaveLength(1);
    expect(failure[0]).toMatchObject({ sourceMessageId: messageId, retried: 2, maxRetries: 2, status: 503 });
    expect(typeof failure[0]?.dlqId).toBe("string");
    // The documented body: headers as arrays, times as strings of unix milliseconds.
    expect(failure[0]?.header["content-type"]).toEqual(["application/json"]);
    expect(failure[0]?.createdAt).toMatch(/^\d{13}$/);
    expect(JSON.parse(Buffer.from(failure[0]?.sourceBody, "base64").toString())).toEqual({ n: 6 });
  });
});

describe("deduplication (https://upstash.com/docs/qstash/features/deduplication)", () => {
  it("the same id within the window is accepted as a duplicate (202, same message id), after it a new message", async () => {
    const first = await raw(`/v2/publish/${baseUrl}/job`, {
      method: "POST",
      headers: { "upstash-deduplication-id": "same", "content-type": "application/json" },
      body: "{}",
    });
    const again = await raw(`/v2/publish/${baseUrl}/job`, {
      method: "POST",
      headers: { "upstash-deduplication-id": "same", "content-type": "application/json" },
      body: "{}",
    });
    expect(first.status).toBe(201);
    expect(again).toEqual({ status: 202, body: { messageId: first.body.messageId, deduplicated: true } });

    useBroker({ dedupWindowMs: 100 });
    const before = await client().publishJSON({ url: `${baseUrl}/job`, body: {}, deduplicationId: "window" });
    await new Promise((resolve) => setTimeout(resolve, 150));
    const after = await client().publishJSON({ url: `${baseUrl}/job`, body: {}, deduplicationId: "window" });
    expect(after.messageId).not.toBe(before.messageId);
    expect(after.deduplicated).toBeFalsy();
  });

  it("content-based deduplication counts the forwarded headers", async () => {
    const publish = (header: string) =>
      raw(`/v2/publish/${baseUrl}/job`, {
        method: "POST",
        headers: { "upstash-content-based-deduplication": "true", "upstash-forward-x-kind": header },
        body: "same body",
      });
    const a = await publish("a");
    const b = await publish("b");
    const a2 = await publish("a");
    expect(b.body.messageId).not.toBe(a.body.messageId);
    expect(a2).toEqual({ status: 202, body: { messageId: a.body.messageId, deduplicated: true } });
  });
});

describe("delays (https://upstash.com/docs/qstash/features/delay, the publish API's Upstash-Delay)", () => {
  it("reads <value><unit> and combinations such as 1d10h30m; refuses a bare number and a delay over the plan's limit", async () => {
    expect(parseDelay("50s")).toBe(50_000);
    expect(parseDelay("1d10h30m")).toBe((24 + 10.5) * 3_600_000);
    expect(() => parseDelay("10")).toThrow();
    expect(() => parseDelay("10ms")).toThrow();
    const combined = await raw(`/v2/publish/${baseUrl}/job`, {
      method: "POST",
      headers: { "upstash-delay": "1d10h30m" },
      body: "{}",
    });
    expect(combined.status).toBe(201);
    const due = current.messages.get(combined.body.messageId)?.notBefore ?? 0;
    expect(due - Date.now()).toBeGreaterThan(34 * 3_600_000);
    // The free plan's limit is 7 days.
    const tooLong = await raw(`/v2/publish/${baseUrl}/job`, {
      method: "POST",
      headers: { "upstash-delay": "8d" },
      body: "{}",
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toMatch(/maximum allowed delay/);
    const bare = await raw(`/v2/publish/${baseUrl}/job`, {
      method: "POST",
      headers: { "upstash-delay": "60" },
      body: "{}",
    });
    expect(bare.status).toBe(400);
  });

  it("Upstash-Not-Before wins over Upstash-Delay", async () => {
    const at = Math.floor(Date.now() / 1000) + 3600;
    const published = await raw(`/v2/publish/${baseUrl}/job`, {
      method: "POST",
      headers: { "upstash-delay": "10s", "upstash-not-before": String(at) },
      body: "{}",
    });
    expect(current.messages.get(published.body.messageId)?.notBefore).toBe(at * 1000);
  });

  it("a delay longer than a timer can hold (24.8 days) waits instead of firing at once", async () => {
    useBroker({ maxDelayMs: 365 * 86_400_000 });
    const { messageId } = await client().publishJSON({ url: `${baseUrl}/job`, body: {}, delay: 30 * 86_400 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(current.messages.get(messageId)?.state).toBe("pending");
    expect(arrivals.filter((arrival) => arrival.path === "/job")).toHaveLength(0);
  });
});

describe("schedules (https://upstash.com/docs/qstash/features/schedules#timezones)", () => {
  it("evaluates a CRON_TZ= cron in that zone and refuses an unknown zone", async () => {
    const { scheduleId } = await client().schedules.create({
      destination: `${baseUrl}/job`,
      cron: "CRON_TZ=America/New_York 0 4 * * *",
    });
    const next = new Date(current.schedules.get(scheduleId)?.nextRun ?? 0);
    const inNewYork = new Intl.DateTimeFormat("en-US", {
      timeZone: "America/New_York",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).format(next);
    expect(inNewYork).toBe("04:00");
    const unknown = await raw(`/v2/schedules/${baseUrl}/job`, {
      method: "POST",
      headers: { "upstash-cron": "CRON_TZ=Mars/Olympus 0 4 * * *" },
      body: "{}",
    });
    expect(unknown.status).toBe(400);
  });
});

describe("dead letter queue (https://upstash.com/docs/qstash/api/dlq/*)", () => {
  it("gets one message, retries one (a new message, gone from the DLQ), deletes in bulk, through the SDK", async () => {
    useBroker({ retryDelayMs: () => 5 });
    answers = Array.from({ length: 3 }, () => ({ status: 500 }));
    const published = await Promise.all(
      [1, 2, 3].map((n) => client().publishJSON({ url: `${baseUrl}/job`, body: { n }, retries: 0 })),
    );
    await current.settle(200, 60_000);
    const listed = await client().dlq.listMessages();
    expect(listed.messages.map((message) => message.messageId).sort()).toEqual(
      published.map((message) => message.messageId).sort(),
    );
    const [first, second, third] = listed.messages;
    const one = await raw(`/v2/dlq/${first?.dlqId}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ dlqId: first?.dlqId, messageId: first?.messageId, responseStatus: 500 });
    expect(one.body.header["content-type"]).toEqual(["application/json"]);

    const retried = await raw(`/v2/dlq/retry/${first?.dlqId}`, { method: "POST" });
    expect(retried.status).toBe(201);
    expect(typeof retried.body.messageId).toBe("string");
    await current.settle(200, 60_000);
    expect(current.messages.get(retried.body.messageId)?.state).toBe("delivered");
    expect((await raw(`/v2/dlq/${first?.dlqId}`)).status).toBe(404);

    const removed = await client().dlq.delete([second?.dlqId ?? "", third?.dlqId ?? ""]);
    expect(removed).toMatchObject({ deleted: 2 });
    expect((await client().dlq.listMessages()).messages).toHaveLength(0);
    expect((await raw("/v2/dlq/retry/nope", { method: "POST" })).status).toBe(404);
  });
});

describe("formats", () => {
  it("Retry-After in each documented form", () => {
    const now = Date.parse("2024-06-27T12:16:00Z");
    expect(parseRetryAt("0", now)).toBe(0);
    expect(parseRetryAt("10", now)).toBe(10_000);
    expect(parseRetryAt("6m5s", now)).toBe(365_000);
    expect(parseRetryAt("Thu, 27 Jun 2024 12:16:24 GMT", now)).toBe(24_000);
    expect(parseRetryAt("soon", now)).toBeUndefined();
  });
});
