import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { CronExpressionParser } from "cron-parser";
import { SignJWT } from "jose";

/**
 * A local stand-in for QStash's cloud: the publish / enqueue / batch / schedules / DLQ subset the
 * product uses, over the same HTTP API the `@upstash/qstash` Client speaks. Deliveries are signed
 * exactly as QStash signs them, so the production `Receiver` path verifies them; failed deliveries
 * are retried with backoff, then dead-lettered; callbacks and failure callbacks are delivered
 * (signed) too. State is in memory: it is a development broker, not a durable one.
 */

export interface BrokerOptions {
  token: string;
  currentSigningKey: string;
  /** Delay before retry n (1-based). QStash's own is min(86400, e^(2.5n)) seconds. */
  backoffMs?: (retry: number) => number;
  /** Per-delivery HTTP timeout. */
  timeoutMs?: number;
  onEvent?: (event: BrokerEvent) => void;
}

export type MessageState = "pending" | "delivering" | "delivered" | "failed";

export interface BrokerMessage {
  messageId: string;
  url: string;
  method: string;
  body: string;
  headers: Record<string, string>;
  maxRetries: number;
  retried: number;
  notBefore: number;
  createdAt: number;
  callback: string | undefined;
  failureCallback: string | undefined;
  queueName: string | undefined;
  scheduleId: string | undefined;
  state: MessageState;
  attempts: { at: number; status: number | null; error?: string }[];
}

export interface DlqEntry extends BrokerMessage {
  dlqId: string;
  responseStatus: number | null;
  responseBody: string;
}

export interface BrokerSchedule {
  scheduleId: string;
  cron: string;
  destination: string;
  method: string;
  body: string;
  headers: Record<string, string>;
  retries: number;
  callback: string | undefined;
  failureCallback: string | undefined;
  createdAt: number;
  nextRun: number;
  paused: boolean;
}

export type BrokerEvent =
  | { type: "delivered"; message: BrokerMessage; status: number }
  | { type: "retry"; message: BrokerMessage; status: number | null; error?: string }
  | { type: "dead-lettered"; message: BrokerMessage };

const realBackoff = (retry: number) => Math.min(86_400, Math.exp(2.5 * retry)) * 1000;

function parseDuration(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) {
    throw new Error(`bad duration ${value}`);
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? "s"] ?? 1000;
  return Number(match[1]) * unit;
}

const b64url = (data: Buffer) => data.toString("base64url");

export class QStashBroker {
  readonly messages = new Map<string, BrokerMessage>();
  readonly dlq = new Map<string, DlqEntry>();
  readonly schedules = new Map<string, BrokerSchedule>();
  private readonly dedup = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly queues = new Map<string, { busy: boolean; waiting: BrokerMessage[] }>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly key: Uint8Array;
  private closed = false;

  constructor(private readonly options: BrokerOptions) {
    this.key = new TextEncoder().encode(options.currentSigningKey);
  }

  /** Handles `/v2/...` requests (the caller strips any mount prefix). */
  async handle(request: Request, path: string): Promise<Response> {
    const auth = request.headers.get("authorization") ?? "";
    const expected = Buffer.from(`Bearer ${this.options.token}`);
    const given = Buffer.from(auth);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return Response.json({ error: "Unauthorized" }, { status: 401 });
    }
    try {
      return await this.route(request, path);
    } catch (error) {
      return Response.json(
        { error: error instanceof Error ? error.message : String(error) },
        { status: 400 },
      );
    }
  }

  private async route(request: Request, path: string): Promise<Response> {
    const method = request.method;
    const on = (verb: string, pattern: RegExp) => (verb === method ? pattern.exec(path) : null);

    const publish = on("POST", /^\/v2\/publish\/(.+)$/);
    if (publish) {
      return Response.json(...this.accept(publish[1] ?? "", request.headers, await request.text()));
    }
    const enqueue = on("POST", /^\/v2\/enqueue\/([^/]+)\/(.+)$/);
    if (enqueue) {
      return Response.json(
        ...this.accept(enqueue[2] ?? "", request.headers, await request.text(), enqueue[1]),
      );
    }
    if (on("POST", /^\/v2\/batch$/)) {
      const items = JSON.parse(await request.text()) as {
        destination: string;
        headers?: Record<string, string>;
        body?: string;
        queue?: string;
      }[];
      return Response.json(
        items.map(
          (item) =>
            this.accept(item.destination, new Headers(item.headers ?? {}), item.body ?? "", item.queue)[0],
        ),
      );
    }
    const createSchedule = on("POST", /^\/v2\/schedules\/(https?:.+)$/);
    if (createSchedule) {
      return Response.json(this.schedule(createSchedule[1] ?? "", request.headers, await request.text()));
    }
    if (on("GET", /^\/v2\/schedules$/)) {
      return Response.json([...this.schedules.values()].map(publicSchedule));
    }
    const scheduleMatch = /^\/v2\/schedules\/([^/]+)(\/pause|\/resume)?$/.exec(path);
    if (scheduleMatch) {
      const schedule = this.schedules.get(scheduleMatch[1] ?? "");
      if (!schedule) {
        return Response.json({ error: "schedule not found" }, { status: 404 });
      }
      if (method === "GET") {
        return Response.json(publicSchedule(schedule));
      }
      if (method === "DELETE") {
        this.schedules.delete(schedule.scheduleId);
        return new Response(null, { status: 200 });
      }
      schedule.paused = scheduleMatch[2] === "/pause";
      return new Response(null, { status: 200 });
    }
    if (on("GET", /^\/v2\/dlq$/)) {
      return Response.json({ messages: [...this.dlq.values()].map(publicMessage) });
    }
    const dlqDelete = on("DELETE", /^\/v2\/dlq\/([^/]+)$/);
    if (dlqDelete) {
      return new Response(null, { status: this.dlq.delete(dlqDelete[1] ?? "") ? 200 : 404 });
    }
    const messageMatch = /^\/v2\/messages\/([^/]+)$/.exec(path);
    if (messageMatch) {
      const message = this.messages.get(messageMatch[1] ?? "");
      if (!message) {
        return Response.json({ error: "message not found" }, { status: 404 });
      }
      if (method === "DELETE") {
        this.messages.delete(message.messageId);
        return new Response(null, { status: 200 });
      }
      return Response.json(publicMessage(message));
    }
    return Response.json({ error: `no route for ${method} ${path}` }, { status: 404 });
  }

  private accept(
    rawDestination: string,
    headers: Headers,
    body: string,
    queueName?: string,
  ): [{ messageId: string; deduplicated?: boolean }, { status: number }] {
    const destination = new URL(decodeURIComponent(rawDestination)).toString();
    const dedupId = headers.get("upstash-deduplication-id");
    const contentBased = headers.get("upstash-content-based-deduplication") === "true";
    const dedupKey = dedupId
      ? `id:${dedupId}`
      : contentBased
        ? `content:${createHash("sha256").update(`${destination}\n${body}`).digest("hex")}`
        : undefined;
    const existing = dedupKey ? this.dedup.get(dedupKey) : undefined;
    if (existing) {
      return [{ messageId: existing, deduplicated: true }, { status: 202 }];
    }
    const message = this.enqueueMessage({
      url: destination,
      method: headers.get("upstash-method") ?? "POST",
      body,
      headers: forwardedHeaders(headers),
      maxRetries: Number(headers.get("upstash-retries") ?? "3"),
      notBefore: notBefore(headers),
      callback: headers.get("upstash-callback") ?? undefined,
      failureCallback: headers.get("upstash-failure-callback") ?? undefined,
      queueName,
      scheduleId: undefined,
    });
    if (dedupKey) {
      this.dedup.set(dedupKey, message.messageId);
    }
    return [{ messageId: message.messageId }, { status: 201 }];
  }

  private enqueueMessage(
    fields: Omit<BrokerMessage, "messageId" | "retried" | "createdAt" | "state" | "attempts">,
  ): BrokerMessage {
    const message: BrokerMessage = {
      ...fields,
      messageId: `msg_${randomUUID().replaceAll("-", "")}`,
      retried: 0,
      createdAt: Date.now(),
      state: "pending",
      attempts: [],
    };
    this.messages.set(message.messageId, message);
    this.later(Math.max(0, message.notBefore - Date.now()), () => this.dispatch(message));
    return message;
  }

  private schedule(rawDestination: string, headers: Headers, body: string) {
    const cron = headers.get("upstash-cron");
    if (!cron) {
      throw new Error("Upstash-Cron header is required");
    }
    const scheduleId = headers.get("upstash-schedule-id") ?? `scd_${randomUUID().replaceAll("-", "")}`;
    const schedule: BrokerSchedule = {
      scheduleId,
      cron,
      destination: new URL(decodeURIComponent(rawDestination)).toString(),
      method: headers.get("upstash-method") ?? "POST",
      body,
      headers: forwardedHeaders(headers),
      retries: Number(headers.get("upstash-retries") ?? "3"),
      callback: headers.get("upstash-callback") ?? undefined,
      failureCallback: headers.get("upstash-failure-callback") ?? undefined,
      createdAt: Date.now(),
      nextRun: CronExpressionParser.parse(cron, { tz: "UTC" }).next().getTime(),
      paused: false,
    };
    this.schedules.set(scheduleId, schedule);
    this.armSchedule(schedule);
    return { scheduleId };
  }

  private armSchedule(schedule: BrokerSchedule): void {
    this.later(Math.max(0, schedule.nextRun - Date.now()), () => {
      const current = this.schedules.get(schedule.scheduleId);
      if (current !== schedule) {
        return; // deleted or replaced
      }
      if (!schedule.paused) {
        this.fire(schedule);
      }
      schedule.nextRun = CronExpressionParser.parse(schedule.cron, { tz: "UTC" }).next().getTime();
      this.armSchedule(schedule);
    });
  }

  /** Fires a schedule now, as if its cron time had come (for development and tests). */
  triggerSchedule(scheduleId: string): BrokerMessage {
    const schedule = this.schedules.get(scheduleId);
    if (!schedule) {
      throw new Error(`no schedule ${scheduleId}`);
    }
    return this.fire(schedule);
  }

  private fire(schedule: BrokerSchedule): BrokerMessage {
    return this.enqueueMessage({
      url: schedule.destination,
      method: schedule.method,
      body: schedule.body,
      headers: schedule.headers,
      maxRetries: schedule.retries,
      notBefore: Date.now(),
      callback: schedule.callback,
      failureCallback: schedule.failureCallback,
      queueName: undefined,
      scheduleId: schedule.scheduleId,
    });
  }

  private dispatch(message: BrokerMessage): void {
    if (!this.messages.has(message.messageId) || this.closed) {
      return; // cancelled
    }
    if (message.queueName) {
      const queue = this.queues.get(message.queueName) ?? { busy: false, waiting: [] };
      this.queues.set(message.queueName, queue);
      if (queue.busy) {
        queue.waiting.push(message);
        return;
      }
      queue.busy = true;
    }
    const run = this.deliver(message).finally(() => {
      this.inflight.delete(run);
      if (message.queueName) {
        const queue = this.queues.get(message.queueName);
        if (queue) {
          queue.busy = false;
          const next = queue.waiting.shift();
          if (next) {
            this.dispatch(next);
          }
        }
      }
    });
    this.inflight.add(run);
  }

  /** Signs like QStash: HS256, iss Upstash, sub = destination URL, body = base64url(sha256(body)). */
  async sign(url: string, body: string, jti: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ body: b64url(createHash("sha256").update(body).digest()) })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer("Upstash")
      .setSubject(url)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 300)
      .setJti(jti)
      .sign(this.key);
  }

  private async deliver(message: BrokerMessage): Promise<void> {
    message.state = "delivering";
    let status: number | null = null;
    let responseBody = "";
    let error: string | undefined;
    try {
      const response = await fetch(message.url, {
        method: message.method,
        headers: {
          ...message.headers,
          "upstash-signature": await this.sign(message.url, message.body, `jwt_${randomUUID()}`),
          "upstash-message-id": message.messageId,
          "upstash-retried": String(message.retried),
          ...(message.scheduleId ? { "upstash-schedule-id": message.scheduleId } : {}),
        },
        body: message.method === "GET" || message.method === "HEAD" ? undefined : message.body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
      status = response.status;
      responseBody = await response.text();
    } catch (thrown) {
      error = thrown instanceof Error ? thrown.message : String(thrown);
    }
    message.attempts.push({ at: Date.now(), status, ...(error ? { error } : {}) });
    if (status !== null && status >= 200 && status < 300) {
      message.state = "delivered";
      this.options.onEvent?.({ type: "delivered", message, status });
      if (message.callback) {
        this.enqueueCallback(message.callback, message, status, responseBody);
      }
      return;
    }
    if (message.retried < message.maxRetries && !this.closed) {
      message.retried += 1;
      message.state = "pending";
      this.options.onEvent?.({ type: "retry", message, status, ...(error ? { error } : {}) });
      this.later((this.options.backoffMs ?? realBackoff)(message.retried), () => this.dispatch(message));
      return;
    }
    message.state = "failed";
    const dlqId = `dlq_${randomUUID().replaceAll("-", "")}`;
    this.dlq.set(dlqId, { ...message, dlqId, responseStatus: status, responseBody });
    this.options.onEvent?.({ type: "dead-lettered", message });
    if (message.failureCallback) {
      this.enqueueCallback(message.failureCallback, message, status, responseBody, dlqId);
    }
  }

  private enqueueCallback(
    url: string,
    source: BrokerMessage,
    status: number | null,
    body: string,
    dlqId?: string,
  ) {
    const payload = {
      status: status ?? 0,
      header: {},
      body: Buffer.from(body).toString("base64"),
      retried: source.retried,
      maxRetries: source.maxRetries,
      sourceMessageId: source.messageId,
      url: source.url,
      method: source.method,
      sourceHeader: Object.fromEntries(Object.entries(source.headers).map(([k, v]) => [k, [v]])),
      sourceBody: Buffer.from(source.body).toString("base64"),
      notBefore: source.notBefore,
      createdAt: source.createdAt,
      scheduleId: source.scheduleId ?? "",
      callerIP: "127.0.0.1",
      ...(dlqId ? { dlqId } : {}),
    };
    this.enqueueMessage({
      url,
      method: "POST",
      body: JSON.stringify(payload),
      headers: { "content-type": "application/json", "upstash-callback-source": source.messageId },
      maxRetries: 3,
      notBefore: Date.now(),
      callback: undefined,
      failureCallback: undefined,
      queueName: undefined,
      scheduleId: undefined,
    });
  }

  private later(ms: number, fn: () => void): void {
    if (this.closed) {
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** Resolves when nothing is due within `horizonMs` and nothing is being delivered. */
  async settle(horizonMs = 50, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const busy =
        this.inflight.size > 0 ||
        [...this.messages.values()].some(
          (m) => m.state === "delivering" || (m.state === "pending" && m.notBefore <= Date.now() + horizonMs),
        );
      if (!busy) {
        return;
      }
      if (Date.now() > deadline) {
        throw new Error("broker did not settle");
      }
      await Promise.race([...this.inflight, new Promise((resolve) => setTimeout(resolve, 10))]);
    }
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) {
      clearTimeout(timer);
    }
    this.timers.clear();
  }
}

function forwardedHeaders(headers: Headers): Record<string, string> {
  const forwarded: Record<string, string> = {};
  headers.forEach((value, name) => {
    const lower = name.toLowerCase();
    if (lower.startsWith("upstash-forward-")) {
      forwarded[lower.slice("upstash-forward-".length)] = value;
    } else if (lower === "content-type") {
      forwarded[lower] = value;
    }
  });
  return forwarded;
}

function notBefore(headers: Headers): number {
  const delay = headers.get("upstash-delay");
  const at = headers.get("upstash-not-before");
  if (at) {
    return Number(at) * 1000;
  }
  return Date.now() + (delay ? parseDuration(delay) : 0);
}

function publicMessage(message: BrokerMessage) {
  const { attempts, ...rest } = message;
  return { ...rest, attempts: attempts.length };
}

function publicSchedule(schedule: BrokerSchedule) {
  return { ...schedule, isPaused: schedule.paused };
}
