import { Client, Receiver } from "@upstash/qstash";
import { decodeProtectedHeader } from "jose";
import { z } from "zod";
import { getConfig } from "./config";
import { ApiError, fromZodError } from "./http/errors";
import { type Handler, json, type RequestContext } from "./http/handler";

let client: Client | undefined;
let receiver: Receiver | undefined;

/** QStash publisher: Upstash in production, the local broker (`QSTASH_URL`) in development. */
export function getQueue(): Client {
  const config = getConfig();
  client ??= new Client({ baseUrl: config.QSTASH_URL, token: config.QSTASH_TOKEN, enableTelemetry: false });
  return client;
}

/** The absolute URL QStash delivers to for one of our paths. */
export function appUrl(path: string): string {
  return new URL(path, getConfig().APP_URL).toString();
}

export interface JobOptions {
  /** One id end to end: the QStash deduplication id and the downstream idempotency key. */
  deduplicationId: string;
  delaySeconds?: number;
  retries?: number;
  callbackPath?: string;
  failureCallbackPath?: string;
  headers?: Record<string, string>;
}

export async function publishJob(path: string, body: unknown, options: JobOptions): Promise<string> {
  const result = await getQueue().publishJSON({
    url: appUrl(path),
    body,
    deduplicationId: options.deduplicationId,
    retries: options.retries ?? 3,
    ...(options.delaySeconds ? { delay: options.delaySeconds } : {}),
    ...(options.callbackPath ? { callback: appUrl(options.callbackPath) } : {}),
    ...(options.failureCallbackPath ? { failureCallback: appUrl(options.failureCallbackPath) } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  return result.messageId;
}

function getReceiver(): Receiver {
  const config = getConfig();
  receiver ??= new Receiver({
    currentSigningKey: config.QSTASH_CURRENT_SIGNING_KEY,
    nextSigningKey: config.QSTASH_NEXT_SIGNING_KEY,
  });
  return receiver;
}

export interface QStashDelivery {
  messageId: string;
  /** How many times QStash has already retried this message (0 on the first delivery). */
  retried: number;
  scheduleId: string | undefined;
}

/**
 * Verifies `Upstash-Signature` over the raw body before anything parses it: issuer, expiry, the body
 * hash, that the token was minted for this very URL (`publicPath`, or the request's path), and HS256.
 * Either signing key passes, so keys can roll.
 */
export async function verifyQStash(ctx: RequestContext, publicPath?: string): Promise<QStashDelivery> {
  const signature = ctx.request.headers.get("upstash-signature");
  if (!signature) {
    throw new ApiError("invalid_signature", "Missing Upstash-Signature");
  }
  const body = await ctx.text();
  let valid = false;
  try {
    // QStash signs with HS256 only; the SDK would take any HMAC algorithm under the same key.
    if (decodeProtectedHeader(signature).alg !== "HS256") {
      throw new Error("not HS256");
    }
    // The URL the message was published to; behind a rewrite the request's own path may differ.
    const url = appUrl(publicPath ?? ctx.url.pathname);
    valid = await getReceiver().verify({ signature, body, url, clockTolerance: 5 });
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new ApiError("invalid_signature", "Upstash-Signature does not verify");
  }
  return {
    messageId: ctx.request.headers.get("upstash-message-id") ?? "",
    retried: Number(ctx.request.headers.get("upstash-retried") ?? "0") || 0,
    scheduleId: ctx.request.headers.get("upstash-schedule-id") ?? undefined,
  };
}

/**
 * A delivered job's body, validated. A body that can never be processed is logged and acknowledged
 * (undefined): answering an error would only make QStash deliver it again and again.
 */
export async function readJob<S extends z.ZodType>(
  ctx: RequestContext & { delivery: QStashDelivery },
  schema: S,
  kind: string,
): Promise<z.output<S> | undefined> {
  let body: unknown;
  try {
    body = JSON.parse(await ctx.text());
  } catch {
    body = undefined;
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    ctx.log.error({ messageId: ctx.delivery.messageId }, `${kind} job with an invalid body dropped`);
    return undefined;
  }
  return parsed.data;
}

/** The acknowledgement of a job `readJob` dropped. */
export const invalidJob = () => json({ success: true, data: { outcome: "invalid_job" } });

export type QStashHandler = (ctx: RequestContext & { delivery: QStashDelivery }) => Promise<Response>;

/** For workers, callbacks and crons: only QStash-signed deliveries reach the handler. */
export function withQStash(handler: QStashHandler, publicPath?: string): Handler {
  return async (ctx) => handler({ ...ctx, delivery: await verifyQStash(ctx, publicPath) });
}

/** The part of QStash's callback body the product reads (the OpenAPI document uses this schema). */
export const callbackPayload = z
  .object({
    status: z.number().meta({ description: "The destination's status for the attempt (0: unreachable)" }),
    header: z.record(z.string(), z.array(z.string())).optional(),
    sourceMessageId: z.string().min(1),
    sourceBody: z.string().meta({ description: "base64 of the published job" }),
    body: z.string().optional().meta({ description: "base64 of the destination's answer" }),
    retried: z.number().optional(),
    maxRetries: z.number().optional(),
    dlqId: z.string().optional().meta({ description: "Only in the failure callback" }),
  })
  .meta({ id: "QStashCallback" });

/** What a callback delivery is answered with. */
export const callbackOutcome = z.enum(["processed", "ignored", "duplicate", "attempt_will_be_retried"]);

export interface QStashCallback {
  /** The published message this reports on. */
  sourceMessageId: string;
  /** The destination's HTTP status (0 when it could not be reached). */
  status: number;
  /**
   * What the attempt means for the message: `delivered` (2xx), `retrying` (it failed and QStash
   * will deliver it again, so nothing is decided yet), or `failed` (the last attempt failed, a
   * non-retryable 489, or the failure callback of a message now in the DLQ).
   */
  kind: "delivered" | "retrying" | "failed";
  /** `kind === "failed"`. */
  failed: boolean;
  retried: number;
  /** The message's own body and the destination's response body, decoded and parsed as JSON. */
  source: unknown;
  response: unknown;
}

/**
 * QStash calls the callback after every attempt, not only the last
 * (https://upstash.com/docs/qstash/features/callbacks: "the callback might be called multiple times
 * for each retry until the endpoint returns success or retries are exhausted"; exhausted when
 * `retried == maxRetries`), and the failure callback once, with the DLQ id.
 */
function callbackKind(callback: z.infer<typeof callbackPayload>): QStashCallback["kind"] {
  if (callback.dlqId !== undefined) {
    return "failed";
  }
  if (callback.status >= 200 && callback.status < 300) {
    return "delivered";
  }
  const nonRetryable = Object.entries(callback.header ?? {}).some(
    ([name, values]) => name.toLowerCase() === "upstash-nonretryable-error" && values.includes("true"),
  );
  if (callback.status === 489 && nonRetryable) {
    return "failed";
  }
  // Without maxRetries the attempt cannot be placed; only the failure callback decides then.
  if (callback.maxRetries === undefined) {
    return "retrying";
  }
  return (callback.retried ?? 0) >= callback.maxRetries ? "failed" : "retrying";
}

function decodeJson(base64: string | undefined): unknown {
  if (!base64) {
    return undefined;
  }
  try {
    return JSON.parse(Buffer.from(base64, "base64").toString("utf8"));
  } catch {
    return undefined;
  }
}

/**
 * A QStash callback or failure callback, verified (signed for `publicPath`) and decoded. A body that
 * is not a callback is a 400, never a 500.
 */
export async function readQStashCallback(ctx: RequestContext, publicPath: string): Promise<QStashCallback> {
  await verifyQStash(ctx, publicPath);
  let raw: unknown;
  try {
    raw = JSON.parse(await ctx.text());
  } catch {
    throw new ApiError("bad_request", "The body is not JSON");
  }
  const parsed = callbackPayload.safeParse(raw);
  if (!parsed.success) {
    throw fromZodError(parsed.error, "body");
  }
  const callback = parsed.data;
  const kind = callbackKind(callback);
  return {
    sourceMessageId: callback.sourceMessageId,
    status: callback.status,
    kind,
    failed: kind === "failed",
    retried: callback.retried ?? 0,
    source: decodeJson(callback.sourceBody),
    response: decodeJson(callback.body),
  };
}
