import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { CronExpressionParser } from "cron-parser";
import { SignJWT } from "jose";
import {
  maxRetryAtMs,
  parseCron,
  parseDelay,
  parseRetryAt,
  qstashBackoffMs,
  retryAtHeaders,
} from "./qstash-formats";

/**
 * A local stand-in for QStash's cloud: the publish / enqueue / batch / schedules / messages / DLQ
 * subset the product uses, over the same HTTP API the `@upstash/qstash` Client speaks, held to
 * Upstash's documentation (https://upstash.com/docs/qstash): deliveries signed exactly as QStash
 * signs them; a failed delivery retried after the destination's Retry-After (or X-RateLimit-Reset*)
 * when it gives one of at most a day, else QStash's backoff; 489 with Upstash-NonRetryable-Error
 * dead-lettered at once; the callback called after every attempt (with `retried` and
 * `maxRetries`), the failure callback once the message is dead; deduplication ids remembered for 10
 * minutes; delays in QStash's formats and within the plan's limit; cron in UTC or CRON_TZ. State
 * is in memory: it is a development broker, not a durable one.
 */

export interface BrokerOptions {
  token: string;
  currentSigningKey: string;
  /**
   * Maps a retry's delay, as QStash would wait it, onto this broker's timers. Default: the same.
   * The test stack compresses it to keep suites fast; each attempt still records the delay QStash
   * would have waited (`attempts[].retryDelayMs`), which is what tests assert.
   */
  retryDelayMs?: (qstashDelayMs: number, retry: number) => number;
  /** Per-delivery HTTP timeout. */
  timeoutMs?: number;
  /** How long a deduplication id is remembered (QStash: 10 minutes). */
  dedupWindowMs?: number;
  /** The plan's longest delay (QStash free: 7 days; pay-as-you-go: 1 year). */
  maxDelayMs?: number;
  onEvent?: (event: BrokerEvent) => void;
}

export interface Attempt {
  at: number;
  status: number | null;
  error?: string;
  /** For a failed attempt that will be retried: the delay QStash would wait before the retry. */
  retryDelayMs?: number;
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
  attempts: Attempt[];
}

export interface DlqEntry extends BrokerMessage {
  dlqId: string;
  responseStatus: number | null;
  responseHeader: Record<string, string[]>;
  responseBody: string;
}

export interface BrokerSchedule {
  scheduleId: string;
  cron: string;
  destination: string;
  /** Forwarded delay of each message the schedule creates (`Upstash-Delay`). */
  delayMs: number;
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

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer wait is armed in steps. */
const maxTimerMs = 2 ** 31 - 1;

const b64url = (data: Buffer) => data.toString("base64url");

export class QStashBroker {
  readonly messages = new Map<string, BrokerMessage>();
  readonly dlq = new Map<string, DlqEntry>();
  readonly schedules = new Map<string, BrokerSchedule>();
  private readonly dedup = new Map<string, { messageId: string; until: number }>();
  private dlqSequence = 0;
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
    // DLQ (https://upstash.com/docs/qstash/api/dlq/*): list and bulk delete with filters and a
    // cursor, get and delete one, retry one or many (a new message; the entry leaves the DLQ).
    const url = new URL(request.url);
    if (on("GET", /^\/v2\/dlq$/)) {
      const { entries, cursor } = this.dlqPage(url.searchParams);
      return Response.json({ messages: entries.map(publicDlq), ...(cursor ? { cursor } : {}) });
    }
    if (on("DELETE", /^\/v2\/dlq$/)) {
      const { entries, cursor } = this.dlqPage(url.searchParams, true);
      for (const entry of entries) {
        this.dlq.delete(entry.dlqId);
      }
      return Response.json({ deleted: entries.length, ...(cursor ? { cursor } : {}) });
    }
    if (on("POST", /^\/v2\/dlq\/retry$/)) {
      const { entries, cursor } = this.dlqPage(url.searchParams, true);
      const responses = entries.map((entry) => this.retryDead(entry, request.headers));
      return Response.json({ responses, ...(cursor ? { cursor } : {}) }, { status: 201 });
    }
    const dlqRetry = on("POST", /^\/v2\/dlq\/retry\/([^/]+)$/);
    if (dlqRetry) {
      const entry = this.dlq.get(dlqRetry[1] ?? "");
      if (!entry) {
        return Response.json({ error: "message not found in dlq" }, { status: 404 });
      }
      return Response.json(this.retryDead(entry, request.headers), { status: 201 });
    }
    const dlqOne = /^\/v2\/dlq\/([^/]+)$/.exec(path);
    if (dlqOne && (method === "GET" || method === "DELETE")) {
      const entry = this.dlq.get(dlqOne[1] ?? "");
      if (!entry) {
        return Response.json({ error: "message not found in dlq" }, { status: 404 });
      }
      if (method === "DELETE") {
        this.dlq.delete(entry.dlqId);
        return new Response(null, { status: 200 });
      }
      return Response.json(publicDlq(entry));
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
    const forwarded = forwardedHeaders(headers);
    const dedupId = headers.get("upstash-deduplication-id");
    const contentBased = headers.get("upstash-content-based-deduplication") === "true";
    // Content-based deduplication hashes the destination, the body and the content type with every
    // forwarded header (https://upstash.com/docs/qstash/features/deduplication).
    const dedupKey = dedupId
      ? `id:${dedupId}`
      : contentBased
        ? `content:${createHash("sha256")
            .update(JSON.stringify([destination, body, Object.entries(forwarded).sort()]))
            .digest("hex")}`
        : undefined;
    const now = Date.now();
    const existing = dedupKey ? this.dedup.get(dedupKey) : undefined;
    if (existing && existing.until > now) {
      return [{ messageId: existing.messageId, deduplicated: true }, { status: 202 }];
    }
    const message = this.enqueueMessage({
      url: destination,
      method: headers.get("upstash-method") ?? "POST",
      body,
      headers: forwarded,
      maxRetries: retriesOf(headers),
      notBefore: this.notBefore(headers),
      callback: headers.get("upstash-callback") ?? undefined,
      failureCallback: headers.get("upstash-failure-callback") ?? undefined,
      queueName,
      scheduleId: undefined,
    });
    if (dedupKey) {
      // The window is 10 minutes; after it the same id or content is a new message.
      this.dedup.set(dedupKey, {
        messageId: message.messageId,
        until: now + (this.options.dedupWindowMs ?? 600_000),
      });
    }
    return [{ messageId: message.messageId }, { status: 201 }];
  }

  /**
   * When a message is due: `Upstash-Not-Before` (unix seconds) wins over `Upstash-Delay`
   * (https://upstash.com/docs/qstash/features/delay); a delay beyond the plan's limit is refused.
   */
  private notBefore(headers: Headers): number {
    const now = Date.now();
    const at = headers.get("upstash-not-before");
    const delay = headers.get("upstash-delay");
    let due = now;
    if (at) {
      if (!/^\d+$/.test(at.trim())) {
        throw new Error(`invalid Upstash-Not-Before "${at}": expected a unix timestamp in seconds`);
      }
      due = Number(at) * 1000;
    } else if (delay) {
      due = now + parseDelay(delay);
    }
    const limit = this.options.maxDelayMs ?? 7 * 86_400_000;
    if (due - now > limit) {
      throw new Error(
        `delay of ${Math.round((due - now) / 1000)}s exceeds the maximum allowed delay of ${limit / 1000}s for this plan`,
      );
    }
    return due;
  }

  /** A dead message published again with its body and headers (a header given here overrides). */
  private retryDead(entry: DlqEntry, overrides: Headers): { messageId: string } {
    this.dlq.delete(entry.dlqId);
    const message = this.enqueueMessage({
      url: entry.url,
      method: overrides.get("upstash-method") ?? entry.method,
      body: entry.body,
      headers: { ...entry.headers, ...forwardedHeaders(overrides) },
      maxRetries: overrides.has("upstash-retries") ? retriesOf(overrides) : entry.maxRetries,
      notBefore:
        overrides.has("upstash-delay") || overrides.has("upstash-not-before")
          ? this.notBefore(overrides)
          : Date.now(),
      callback: overrides.get("upstash-callback") ?? entry.callback,
      failureCallback: overrides.get("upstash-failure-callback") ?? entry.failureCallback,
      queueName: entry.queueName,
      scheduleId: entry.scheduleId,
    });
    return { messageId: message.messageId };
  }

  /** One page of the DLQ matching the documented filters (`dlqIds` alone when given), oldest first. */
  private dlqPage(
    params: URLSearchParams,
    removing = false,
  ): { entries: DlqEntry[]; cursor: string | undefined } {
    const many = (name: string) =>
      params
        .getAll(name)
        .flatMap((value) => value.split(","))
        .filter(Boolean);
    const ids = many("dlqIds");
    const matches = (entry: DlqEntry): boolean => {
      if (ids.length > 0) {
        return ids.includes(entry.dlqId);
      }
      const urls = many("url");
      const schedules = many("scheduleId");
      const queues = many("queueName");
      const statuses = many("responseStatus").map(Number);
      const from = params.get("fromDate");
      const to = params.get("toDate");
      const messageId = params.get("messageId");
      return (
        (!messageId || entry.messageId === messageId) &&
        (urls.length === 0 || urls.includes(entry.url)) &&
        (schedules.length === 0 || schedules.includes(entry.scheduleId ?? "")) &&
        (queues.length === 0 || queues.includes(entry.queueName ?? "")) &&
        (statuses.length === 0 || statuses.includes(entry.responseStatus ?? 0)) &&
        (!from || entry.createdAt >= Number(from)) &&
        (!to || entry.createdAt <= Number(to))
      );
    };
    const all = [...this.dlq.values()].filter(matches);
    const start = Number(params.get("cursor") ?? "0") || 0;
    const count = Math.min(100, Math.max(1, Number(params.get("count") ?? "100") || 100));
    const entries = all.slice(start, start + count);
    // Entries a bulk delete or retry removes no longer count: the next page starts where this did.
    const next = removing ? start : start + count;
    return { entries, cursor: start + count < all.length ? String(next) : undefined };
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
    const nextRun = nextCronRun(cron);
    const delay = headers.get("upstash-delay");
    const delayMs = delay ? parseDelay(delay) : 0;
    const scheduleId = headers.get("upstash-schedule-id") ?? `scd_${randomUUID().replaceAll("-", "")}`;
    const schedule: BrokerSchedule = {
      scheduleId,
      cron,
      destination: new URL(decodeURIComponent(rawDestination)).toString(),
      delayMs,
      method: headers.get("upstash-method") ?? "POST",
      body,
      headers: forwardedHeaders(headers),
      retries: retriesOf(headers),
      callback: headers.get("upstash-callback") ?? undefined,
      failureCallback: headers.get("upstash-failure-callback") ?? undefined,
      createdAt: Date.now(),
      nextRun,
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
      schedule.nextRun = nextCronRun(schedule.cron);
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
      notBefore: Date.now() + schedule.delayMs,
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
    let responseHeaders = new Headers();
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
      responseHeaders = response.headers;
      responseBody = await response.text();
    } catch (thrown) {
      error = thrown instanceof Error ? thrown.message : String(thrown);
    }
    const attempt: Attempt = { at: Date.now(), status, ...(error ? { error } : {}) };
    message.attempts.push(attempt);
    const response = { status, headers: responseHeaders, body: responseBody };
    if (status !== null && status >= 200 && status < 300) {
      message.state = "delivered";
      this.options.onEvent?.({ type: "delivered", message, status });
      this.callBack(message, response);
      return;
    }
    // 489 with Upstash-NonRetryable-Error: failed at once, to the DLQ without retries
    // (https://upstash.com/docs/qstash/features/retry#non-retryable-error).
    const nonRetryable = status === 489 && responseHeaders.get("upstash-nonretryable-error") === "true";
    if (!nonRetryable && message.retried < message.maxRetries && !this.closed) {
      const delay = retryDelay(responseHeaders, message.retried + 1);
      attempt.retryDelayMs = delay;
      // The callback reports this attempt (with `retried` as it was) before the retry is made.
      this.callBack(message, response);
      message.retried += 1;
      message.state = "pending";
      const wait = this.options.retryDelayMs ? this.options.retryDelayMs(delay, message.retried) : delay;
      message.notBefore = Date.now() + wait;
      this.options.onEvent?.({ type: "retry", message, status, ...(error ? { error } : {}) });
      this.later(wait, () => this.dispatch(message));
      return;
    }
    message.state = "failed";
    this.dlqSequence += 1;
    const dlqId = `${Date.now()}-${this.dlqSequence}`;
    this.dlq.set(dlqId, {
      ...message,
      dlqId,
      responseStatus: status,
      responseHeader: headerArrays(responseHeaders),
      responseBody,
    });
    this.options.onEvent?.({ type: "dead-lettered", message });
    this.callBack(message, response);
    if (message.failureCallback) {
      this.enqueueCallback(message.failureCallback, message, response, dlqId);
    }
  }

  /** The callback after an attempt, success or failure (https://upstash.com/docs/qstash/features/callbacks). */
  private callBack(
    message: BrokerMessage,
    response: { status: number | null; headers: Headers; body: string },
  ): void {
    if (message.callback) {
      this.enqueueCallback(message.callback, message, response);
    }
  }

  private enqueueCallback(
    url: string,
    source: BrokerMessage,
    response: { status: number | null; headers: Headers; body: string },
    dlqId?: string,
  ) {
    const payload = {
      status: response.status ?? 0,
      header: headerArrays(response.headers),
      body: Buffer.from(response.body).toString("base64"),
      retried: source.retried,
      maxRetries: source.maxRetries,
      ...(dlqId ? { dlqId } : {}),
      sourceMessageId: source.messageId,
      url: source.url,
      method: source.method,
      sourceHeader: Object.fromEntries(Object.entries(source.headers).map(([k, v]) => [k, [v]])),
      sourceBody: Buffer.from(source.body).toString("base64"),
      // The documented body gives both times as strings of unix milliseconds.
      notBefore: String(source.notBefore),
      createdAt: String(source.createdAt),
      scheduleId: source.scheduleId ?? "",
      callerIP: "127.0.0.1",
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

  /** Runs `fn` after `ms`, in steps no timer overflows (a wait past ~24.8 days would fire at once). */
  private later(ms: number, fn: () => void): void {
    if (this.closed) {
      return;
    }
    const step = Math.min(ms, maxTimerMs);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (ms > maxTimerMs) {
        this.later(ms - maxTimerMs, fn);
      } else {
        fn();
      }
    }, step);
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

/** `Upstash-Retries` (QStash's default: 3). */
function retriesOf(headers: Headers): number {
  const value = headers.get("upstash-retries");
  if (value === null) {
    return 3;
  }
  if (!/^\d+$/.test(value.trim())) {
    throw new Error(`invalid Upstash-Retries "${value}"`);
  }
  return Number(value);
}

/**
 * The delay before retry n: the destination's Retry-After (or X-RateLimit-Reset*) when it gives one
 * of at most a day, else QStash's backoff (https://upstash.com/docs/qstash/features/retry).
 */
function retryDelay(headers: Headers, retry: number): number {
  for (const name of retryAtHeaders) {
    const value = headers.get(name);
    const at = value === null ? undefined : parseRetryAt(value);
    if (at !== undefined) {
      return at <= maxRetryAtMs ? at : qstashBackoffMs(retry);
    }
  }
  return qstashBackoffMs(retry);
}

function nextCronRun(cron: string): number {
  const { expression, tz } = parseCron(cron);
  return CronExpressionParser.parse(expression, { tz }).next().getTime();
}

/** Response headers as QStash reports them: each name with its values as an array. */
function headerArrays(headers: Headers): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  headers.forEach((value, name) => {
    result[name] = [...(result[name] ?? []), value];
  });
  return result;
}

/** A message as `GET /v2/messages/{id}` shows it: headers as arrays, times in unix ms. */
function publicMessage(message: BrokerMessage) {
  return {
    messageId: message.messageId,
    url: message.url,
    method: message.method,
    header: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, [v]])),
    body: message.body,
    maxRetries: message.maxRetries,
    notBefore: message.notBefore,
    createdAt: message.createdAt,
    ...(message.callback ? { callback: message.callback } : {}),
    ...(message.failureCallback ? { failureCallback: message.failureCallback } : {}),
    ...(message.queueName ? { queueName: message.queueName } : {}),
    ...(message.scheduleId ? { scheduleId: message.scheduleId } : {}),
    callerIP: "127.0.0.1",
  };
}

/** A DLQ entry as the DLQ routes show it (the documented DLQMessage). */
function publicDlq(entry: DlqEntry) {
  return {
    ...publicMessage(entry),
    dlqId: entry.dlqId,
    ...(entry.responseStatus === null ? {} : { responseStatus: entry.responseStatus }),
    responseHeader: entry.responseHeader,
    responseBody: entry.responseBody,
  };
}

function publicSchedule(schedule: BrokerSchedule) {
  return { ...schedule, isPaused: schedule.paused };
}
