import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { QStashBroker } from "../dev/qstash-broker";
import type { FunctionExports } from "../lib/http/handler";
import { secrets } from "./support/helpers";

/**
 * The local QStash broker against the production publish and verification code: lib/queue publishes
 * with @upstash/qstash's Client, deliveries land on a function wrapped in withQStash (the real
 * Receiver, with the URL checked), and retries, dead letters, callbacks, dedup and schedules happen.
 */
interface Seen {
  body: string;
  messageId: string;
  retried: number;
  scheduleId: string | undefined;
}

let server: Server;
let baseUrl: string;
let broker: QStashBroker;
let worker: FunctionExports;
let callbacks: FunctionExports;
let queue: typeof import("../lib/queue");
const seen: Seen[] = [];
const callbackBodies: { path: string; body: Record<string, unknown> }[] = [];
let failuresBeforeSuccess = 0;
let inFlight = 0;
let maxInFlight = 0;

beforeAll(async () => {
  server = createServer(getRequestListener((request) => dispatch(request)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.APP_URL = baseUrl;
  process.env.QSTASH_URL = `${baseUrl}/__qstash`;

  const { json, route } = await import("../lib/http/handler");
  queue = await import("../lib/queue");
  broker = new QStashBroker({
    token: secrets.qstashToken,
    currentSigningKey: secrets.qstashCurrentSigningKey,
    retryDelayMs: () => 5,
  });
  worker = route("/api/workers/test", {
    POST: queue.withQStash(async (ctx) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // Long enough for parallel deliveries to overlap if the broker sent any.
      await new Promise((resolve) => setTimeout(resolve, 40));
      inFlight -= 1;
      seen.push({ body: await ctx.text(), ...ctx.delivery });
      if (failuresBeforeSuccess > 0) {
        failuresBeforeSuccess -= 1;
        return json({ success: false }, 503);
      }
      return json({ success: true, data: { handled: true } });
    }),
  });
  callbacks = route("/api/callbacks/:kind", {
    POST: queue.withQStash(async (ctx) => {
      callbackBodies.push({ path: ctx.url.pathname, body: JSON.parse(await ctx.text()) });
      return json({ success: true });
    }),
  });
});

afterAll(() => {
  broker.close();
  server.close();
});

beforeEach(() => {
  seen.length = 0;
  callbackBodies.length = 0;
  failuresBeforeSuccess = 0;
  maxInFlight = 0;
});

async function dispatch(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path.startsWith("/__qstash/")) {
    return broker.handle(request, path.slice("/__qstash".length));
  }
  if (path === "/api/workers/test") {
    return worker.POST(request);
  }
  if (path.startsWith("/api/callbacks/")) {
    return callbacks.POST(request);
  }
  return new Response("not found", { status: 404 });
}

const deliver = (body: string, signature: string | undefined, path = "/api/workers/test") =>
  fetch(`${baseUrl}${path}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...(signature ? { "upstash-signature": signature } : {}) },
  });

async function signWith(key: string, claims: { url: string; body: string; exp?: number }) {
  const { createHash } = await import("node:crypto");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ body: createHash("sha256").update(claims.body).digest("base64url") })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer("Upstash")
    .setSubject(claims.url)
    .setIssuedAt(now - 600)
    .setNotBefore(now - 600)
    .setExpirationTime(claims.exp ?? now + 300)
    .sign(new TextEncoder().encode(key));
}

describe("publish and signed delivery", () => {
  it("a published job reaches the worker once, verified, with its message id", async () => {
    const messageId = await queue.publishJob("/api/workers/test", { job: 1 }, { deduplicationId: "job-1" });
    await broker.settle(50, 60_000);
    expect(seen).toHaveLength(1);
    expect(JSON.parse(seen[0]?.body ?? "")).toEqual({ job: 1 });
    expect(seen[0]?.messageId).toBe(messageId);
    expect(seen[0]?.retried).toBe(0);
  });

  it("the same deduplication id publishes once", async () => {
    const first = await queue.publishJob("/api/workers/test", { job: 2 }, { deduplicationId: "job-2" });
    const second = await queue.publishJob("/api/workers/test", { job: 2 }, { deduplicationId: "job-2" });
    await broker.settle(50, 60_000);
    expect(second).toBe(first);
    expect(seen).toHaveLength(1);
  });

  it("a delayed job waits for its time", async () => {
    const messageId = await queue.publishJob(
      "/api/workers/test",
      { job: 3 },
      { deduplicationId: "job-3", delaySeconds: 1 },
    );
    const message = broker.messages.get(messageId);
    expect(message?.state).toBe("pending");
    expect((message?.notBefore ?? 0) - (message?.createdAt ?? 0)).toBeGreaterThanOrEqual(990);
    expect(seen).toHaveLength(0);
    await broker.settle(1500, 60_000);
    expect(seen).toHaveLength(1);
  });

  it("refuses a publisher with the wrong token", async () => {
    const response = await fetch(`${baseUrl}/__qstash/v2/publish/${baseUrl}/api/workers/test`, {
      method: "POST",
      headers: { authorization: "Bearer wrong" },
      body: "{}",
    });
    expect(response.status).toBe(401);
  });
});

describe("batch and queues", () => {
  it("a batch publishes each message, each delivered and verified", async () => {
    const results = await queue
      .getQueue()
      .batchJSON([1, 2, 3].map((n) => ({ url: `${baseUrl}/api/workers/test`, body: { n } })));
    expect(results).toHaveLength(3);
    await broker.settle(50, 60_000);
    expect(seen.map((s) => JSON.parse(s.body).n).sort()).toEqual([1, 2, 3]);
  });

  it("a queue delivers its messages one at a time, in order", async () => {
    const scrapes = queue.getQueue().queue({ queueName: "per-domain" });
    for (const n of [1, 2, 3, 4]) {
      await scrapes.enqueueJSON({ url: `${baseUrl}/api/workers/test`, body: { n } });
    }
    await broker.settle(50, 60_000);
    expect(seen.map((s) => JSON.parse(s.body).n)).toEqual([1, 2, 3, 4]);
    expect(maxInFlight).toBe(1);
  });

  it("without a queue, messages due together are delivered in parallel", async () => {
    await queue
      .getQueue()
      .batchJSON([1, 2, 3, 4].map((n) => ({ url: `${baseUrl}/api/workers/test`, body: { n } })));
    await broker.settle(50, 60_000);
    expect(seen).toHaveLength(4);
    expect(maxInFlight).toBeGreaterThan(1);
  });
});

describe("signature verification (withQStash)", () => {
  const url = () => `${baseUrl}/api/workers/test`;

  it("accepts the broker's signature and one made with the next key (rotation)", async () => {
    const body = '{"ok":true}';
    expect((await deliver(body, await broker.sign(url(), body, "j1"))).status).toBe(200);
    const next = await signWith(secrets.qstashNextSigningKey, { url: url(), body });
    expect((await deliver(body, next)).status).toBe(200);
    expect(seen).toHaveLength(2);
  });

  it.each([
    ["missing", async () => undefined, '{"a":1}'],
    ["for another body (tampered)", async () => broker.sign(url(), '{"a":1}', "j2"), '{"a":2}'],
    ["for another URL", async () => broker.sign(`${baseUrl}/api/workers/other`, '{"a":1}', "j3"), '{"a":1}'],
    [
      "expired",
      async () =>
        signWith(secrets.qstashCurrentSigningKey, {
          url: url(),
          body: '{"a":1}',
          exp: Math.floor(Date.now() / 1000) - 60,
        }),
      '{"a":1}',
    ],
    [
      "signed with an unknown key",
      async () => signWith("sig_someone_elses_key_0123456789", { url: url(), body: '{"a":1}' }),
      '{"a":1}',
    ],
    ["not a JWT", async () => "garbage", '{"a":1}'],
  ])("rejects a signature %s with 401 and never runs the worker", async (_, makeSignature, body) => {
    const response = await deliver(body, await makeSignature());
    expect(response.status).toBe(401);
    expect((await response.json()).error.code).toBe("invalid_signature");
    expect(seen).toHaveLength(0);
  });
});

describe("retries, dead letters and callbacks", () => {
  // https://upstash.com/docs/qstash/features/callbacks: "the callback might be called multiple times
  // for each retry until the endpoint returns success or retries are exhausted".
  it("retries a failing delivery until it succeeds, calling back after every attempt", async () => {
    failuresBeforeSuccess = 2;
    const messageId = await queue.publishJob(
      "/api/workers/test",
      { job: "flaky" },
      { deduplicationId: "job-flaky", retries: 3, callbackPath: "/api/callbacks/done" },
    );
    await broker.settle(50, 60_000);
    expect(seen.map((s) => s.retried)).toEqual([0, 1, 2]);
    expect(broker.messages.get(messageId)?.state).toBe("delivered");
    expect(callbackBodies).toHaveLength(3);
    callbackBodies.sort((a, b) => Number(a.body.retried) - Number(b.body.retried));
    expect(
      callbackBodies.map((entry) => [entry.body.status, entry.body.retried, entry.body.maxRetries]),
    ).toEqual([
      [503, 0, 3],
      [503, 1, 3],
      [200, 2, 3],
    ]);
    const callback = callbackBodies[2]?.body as Record<string, unknown>;
    expect(callbackBodies[2]?.path).toBe("/api/callbacks/done");
    expect(callback.sourceMessageId).toBe(messageId);
    expect(callback.status).toBe(200);
    expect(JSON.parse(Buffer.from(String(callback.body), "base64").toString())).toEqual({
      success: true,
      data: { handled: true },
    });
  });

  it("dead-letters after the last retry and calls the failure callback", async () => {
    failuresBeforeSuccess = 10;
    const messageId = await queue.publishJob(
      "/api/workers/test",
      { job: "doomed" },
      { deduplicationId: "job-doomed", retries: 2, failureCallbackPath: "/api/callbacks/failed" },
    );
    await broker.settle(50, 60_000);
    expect(seen).toHaveLength(3);
    const dead = [...broker.dlq.values()].find((entry) => entry.messageId === messageId);
    expect(dead?.responseStatus).toBe(503);
    const listed = await fetch(`${baseUrl}/__qstash/v2/dlq`, {
      headers: { authorization: `Bearer ${secrets.qstashToken}` },
    }).then((r) => r.json());
    expect(listed.messages.map((m: { messageId: string }) => m.messageId)).toContain(messageId);
    expect(callbackBodies).toHaveLength(1);
    expect(callbackBodies[0]?.path).toBe("/api/callbacks/failed");
    expect(callbackBodies[0]?.body.sourceMessageId).toBe(messageId);
    expect(callbackBodies[0]?.body.dlqId).toBe(dead?.dlqId);
  });
});

describe("schedules", () => {
  it("creates, lists and fires a schedule through the SDK, delivering with its schedule id", async () => {
    const { scheduleId } = await queue.getQueue().schedules.create({
      destination: `${baseUrl}/api/workers/test`,
      cron: "0 6 * * *",
      body: '{"cron":"daily"}',
    });
    const listed = await queue.getQueue().schedules.list();
    expect(listed.map((s) => s.scheduleId)).toContain(scheduleId);
    broker.triggerSchedule(scheduleId);
    await broker.settle(50, 60_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.scheduleId).toBe(scheduleId);
    await queue.getQueue().schedules.delete(scheduleId);
    expect(broker.schedules.has(scheduleId)).toBe(false);
  });
});
