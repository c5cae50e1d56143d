import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";

/**
 * A stand-in for OpenRouter's chat-completions API (`POST /api/v1/chat/completions`), speaking its
 * wire format: scripted answers in order, then a default answer per response schema; 429/5xx with
 * Retry-After, invalid JSON, slow answers; every request recorded with the usage it was billed.
 * Like any provider it never writes more than `max_tokens`: a longer answer is cut there with
 * `finish_reason: "length"` (https://openrouter.ai/docs/api/reference/overview, "finish_reason";
 * https://platform.openai.com/docs/api-reference/chat/create, max_tokens). Tokens are counted as
 * OpenAI's rule of thumb has it, about four characters each, over the messages and the response
 * schema, which providers bill as input too.
 */
export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** The assistant message: an object is sent as its JSON. */
  content?: unknown;
  /** A raw error body for non-200 replies. */
  error?: string;
  delayMs?: number;
  model?: string;
  /** Hold the reply until this resolves (to line up concurrent requests). */
  gate?: Promise<unknown>;
}

export interface RecordedRequest {
  body: {
    model: string;
    messages: { role: string; content: string }[];
    response_format?: { type: string; json_schema?: { name: string; schema: unknown } };
    temperature?: number;
    max_tokens?: number;
  };
  headers: Headers;
  /** What the answer billed; absent for an error reply. */
  usage?: { prompt_tokens: number; completion_tokens: number };
}

export type DefaultReply = (request: RecordedRequest) => Reply;

export class StandInModel {
  readonly requests: RecordedRequest[] = [];
  private readonly script: Reply[] = [];
  private server: Server | undefined;
  url = "";

  constructor(public fallback: DefaultReply = () => ({ content: { response: "ok" } })) {}

  /** Replies used, in order, before the default. */
  enqueue(...replies: Reply[]): void {
    this.script.push(...replies);
  }

  reset(): void {
    this.requests.length = 0;
    this.script.length = 0;
  }

  /** Tokens billed over every answered request so far (or those the filter keeps). */
  billedTokens(keep: (request: RecordedRequest) => boolean = () => true): number {
    return this.requests
      .filter(keep)
      .reduce(
        (sum, request) =>
          sum + (request.usage ? request.usage.prompt_tokens + request.usage.completion_tokens : 0),
        0,
      );
  }

  /** Requests whose response schema had this name. */
  callsFor(schemaName: string): RecordedRequest[] {
    return this.requests.filter((request) => request.body.response_format?.json_schema?.name === schemaName);
  }

  async start(): Promise<string> {
    this.server = createServer(getRequestListener((request) => this.handle(request)));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v1`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (request.method !== "POST" || path !== "/api/v1/chat/completions") {
      return Response.json({ error: { message: "not found", code: 404 } }, { status: 404 });
    }
    const recorded: RecordedRequest = { body: await request.json(), headers: request.headers };
    this.requests.push(recorded);
    const reply = this.script.shift() ?? this.fallback(recorded);
    if (reply.gate) {
      await reply.gate;
    }
    if (reply.delayMs) {
      await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    }
    const status = reply.status ?? 200;
    if (status !== 200) {
      return Response.json(
        { error: { message: reply.error ?? `stand-in error ${status}`, code: status } },
        { status, headers: reply.headers ?? {} },
      );
    }
    const whole = typeof reply.content === "string" ? reply.content : JSON.stringify(reply.content ?? {});
    const promptTokens = Math.ceil(
      (JSON.stringify(recorded.body.messages).length +
        JSON.stringify(recorded.body.response_format ?? "").length) /
        4,
    );
    const limit = recorded.body.max_tokens;
    const cut = limit !== undefined && Math.ceil(whole.length / 4) > limit;
    const content = cut ? whole.slice(0, (limit ?? 0) * 4) : whole;
    const completionTokens = Math.ceil(content.length / 4);
    recorded.usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens };
    return Response.json(
      {
        id: `gen-${crypto.randomUUID()}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: reply.model ?? recorded.body.model,
        provider: "stand-in",
        choices: [
          {
            index: 0,
            message: { role: "assistant", content },
            finish_reason: cut ? "length" : "stop",
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
          cost: (promptTokens + completionTokens) / 1_000_000,
        },
      },
      { headers: reply.headers ?? {} },
    );
  }
}
