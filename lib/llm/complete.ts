import { createHash } from "node:crypto";
import type OpenAIClient from "openai";
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from "openai/resources";
import type { z } from "zod";
import { getConfig } from "../config";
import type { AgentName } from "../db/schema";
import { ApiError } from "../http/errors";
import { getRedis } from "../kv";
import { log } from "../log";
import { release, reserve, settle, toNanoUsd } from "./budget";
import { getLlm, openAiLibrary, usesOpenRouter } from "./client";
import { estimateCost, modelsFor, priceOf } from "./models";
import { promptTokenBound } from "./tokens";

export type ChatMessage = ChatCompletionMessageParam;

export interface StructuredRequest<S extends z.ZodType> {
  agent: AgentName;
  /** Whose budget pays: the workspace and the member in it. */
  workspaceId: string;
  userId: string;
  messages: ChatMessage[];
  schema: S;
  schemaName: string;
  temperature?: number;
  maxTokens?: number;
}

export interface Usage {
  model: string;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  cached: boolean;
  /** Model calls made, repairs and fallbacks included (0 when served from the cache). */
  calls: number;
}

/** Usage of a turn that made no model call. */
export function noModelCall(): Usage {
  return { model: "", promptTokens: 0, completionTokens: 0, costUsd: 0, cached: false, calls: 0 };
}

export interface StructuredResult<T> {
  data: T;
  usage: Usage;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function parseReply<S extends z.ZodType>(schema: S, content: string): Parsed<z.output<S>> {
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch (error) {
    return { ok: false, error: `not JSON (${(error as Error).message})` };
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { ok: false, error: `${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}` };
  }
  return { ok: true, value: result.data };
}

/** Whether another model (or a later retry of the whole call) could succeed where this one failed. */
function worthAnotherModel(OpenAI: typeof OpenAIClient, error: unknown): boolean {
  if (error instanceof OpenAI.APIConnectionError) {
    return true; // includes timeouts
  }
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    return (
      status === 404 || status === 400 || status === 422 || status === 408 || status === 429 || status >= 500
    );
  }
  return false;
}

interface CachedReply {
  data: unknown;
  model: string;
}

/**
 * One structured answer from the agent's model: zod schema as `response_format`, the reply validated,
 * one repair turn when it is invalid, fallbacks when a model is unavailable, everything inside a
 * deadline below the function's maxDuration. Identical calls within the cache TTL cost no tokens;
 * every call is paid from the workspace's and the member's daily budgets (see `budget.ts`).
 */
export async function completeStructured<S extends z.ZodType>(
  request: StructuredRequest<S>,
): Promise<StructuredResult<z.output<S>>> {
  const config = getConfig();
  const client = await getLlm();
  // openai is loaded on the first call, not with this module; its error classes (for `instanceof`)
  // and the response-format helper come from that copy.
  const [{ default: OpenAI }, { zodResponseFormat }] = await Promise.all([
    openAiLibrary(),
    import("openai/helpers/zod"),
  ]);
  const models = modelsFor(request.agent);
  const format = zodResponseFormat(request.schema as never, request.schemaName);
  const cacheKey = `llm:cache:${createHash("sha256")
    .update(
      JSON.stringify({
        // Per member of a workspace: a hit must never tell one member what another asked.
        workspace: request.workspaceId,
        user: request.userId,
        models,
        messages: request.messages,
        // The JSON schema the response format already holds; no second conversion per call.
        schema: format.json_schema,
        temperature: request.temperature ?? null,
        maxTokens: request.maxTokens ?? null,
      }),
    )
    .digest("hex")}`;

  const redis = getRedis();
  // The cache is an optimisation: unreachable, it is a miss (said in the logs), never a failure.
  let hit: CachedReply | null = null;
  if (config.LLM_CACHE_TTL_SECONDS > 0) {
    try {
      hit = await redis.get<CachedReply>(cacheKey);
    } catch (error) {
      log.warn({ err: error, agent: request.agent }, "model cache unreadable: calling the model (fail open)");
    }
  }
  if (hit) {
    const parsed = request.schema.safeParse(hit.data);
    if (parsed.success) {
      return {
        data: parsed.data,
        usage: { ...noModelCall(), model: hit.model, cached: true },
      };
    }
  }

  const deadline = AbortSignal.timeout(config.LLM_DEADLINE_MS);
  const usage = noModelCall();
  const failures: string[] = [];

  const spender = { workspaceId: request.workspaceId, userId: request.userId };
  const wantedOutput = Math.min(
    request.maxTokens ?? config.LLM_MAX_OUTPUT_TOKENS,
    config.LLM_MAX_OUTPUT_TOKENS,
  );

  /**
   * One model call inside the budget: its upper bound reserved first (the prompt's token bound and
   * the output it may write; `max_tokens` is what the reservation allows), then settled to what the
   * provider reports. An error the provider answered bills nothing and gives the reservation back;
   * an answer lost on the way (timeout, dropped connection) may have been billed, so it stays spent.
   */
  const call = async (body: ChatCompletionCreateParamsNonStreaming): Promise<string> => {
    const promptTokens = await promptTokenBound(body.messages, format.json_schema);
    if (promptTokens > config.LLM_MAX_PROMPT_TOKENS) {
      throw new ApiError(
        "payload_too_large",
        `The prompt is about ${promptTokens} tokens; at most ${config.LLM_MAX_PROMPT_TOKENS} may be sent in one call`,
        {
          retryable: false,
          details: { field: "prompt", tokens: promptTokens, limit: config.LLM_MAX_PROMPT_TOKENS },
        },
      );
    }
    const price = priceOf(body.model);
    const reservation = await reserve(spender, { promptTokens, outputTokens: wantedOutput, price });
    usage.calls += 1;
    let completion: ChatCompletion;
    try {
      completion = await client.chat.completions.create(
        { ...body, max_tokens: reservation.outputTokens },
        { signal: deadline },
      );
    } catch (error) {
      if (error instanceof OpenAI.APIError && error.status !== undefined) {
        await release(reservation);
      }
      throw error;
    }
    const reported = completion.usage as (ChatCompletion["usage"] & { cost?: number }) | undefined;
    const promptUsed = reported?.prompt_tokens ?? 0;
    const completionUsed = reported?.completion_tokens ?? 0;
    const cost = reported?.cost ?? estimateCost(body.model, promptUsed, completionUsed);
    usage.model = completion.model || body.model;
    usage.promptTokens += promptUsed;
    usage.completionTokens += completionUsed;
    usage.costUsd += cost;
    // Without a usage report the reservation stands as the bill.
    if (reported) {
      await settle(reservation, { tokens: promptUsed + completionUsed, nanoUsd: toNanoUsd(cost) });
    }
    return completion.choices[0]?.message?.content ?? "";
  };

  for (const model of models) {
    const body = {
      model,
      messages: request.messages,
      response_format: format,
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
      // OpenRouter reports the charged cost when asked.
      ...(usesOpenRouter() ? { usage: { include: true } } : {}),
    } as ChatCompletionCreateParamsNonStreaming;
    try {
      const first = await call(body);
      let parsed = parseReply(request.schema, first);
      if (!parsed.ok) {
        log.warn({ model, error: parsed.error }, "model reply invalid; asking once for a repair");
        const second = await call({
          ...body,
          messages: [
            ...request.messages,
            { role: "assistant", content: first },
            {
              role: "user",
              content: `That reply is not valid for the required JSON schema (${parsed.error}). Reply again with only the corrected JSON.`,
            },
          ],
        });
        parsed = parseReply(request.schema, second);
        if (!parsed.ok) {
          throw new ApiError(
            "upstream_error",
            `The model ${model} returned invalid output twice: ${parsed.error}`,
            {
              retryable: false,
              details: { model, usage },
            },
          );
        }
      }
      if (config.LLM_CACHE_TTL_SECONDS > 0) {
        await redis
          .set<CachedReply>(
            cacheKey,
            { data: parsed.value, model: usage.model },
            { ex: config.LLM_CACHE_TTL_SECONDS },
          )
          .catch((error: unknown) => {
            log.warn(
              { err: error, agent: request.agent },
              "model cache unwritable: answer not cached (fail open)",
            );
          });
      }
      return { data: parsed.value, usage };
    } catch (error) {
      if (error instanceof ApiError) {
        throw error;
      }
      if (error instanceof OpenAI.APIUserAbortError || deadline.aborted) {
        throw new ApiError(
          "service_unavailable",
          `The model did not answer within ${config.LLM_DEADLINE_MS} ms`,
          {
            headers: { "retry-after": "30" },
            details: { failures: [...failures, `${model}: deadline`] },
          },
        );
      }
      if (error instanceof OpenAI.APIError && (error.status === 401 || error.status === 403)) {
        throw new ApiError("service_unavailable", "The model provider refused this backend's API key", {
          retryable: false,
          cause: error,
        });
      }
      if (!worthAnotherModel(OpenAI, error)) {
        throw error;
      }
      const status = error instanceof OpenAI.APIError ? (error.status ?? "connection") : "connection";
      failures.push(`${model}: ${status}`);
      log.warn({ model, status }, "model unavailable; trying the next");
    }
  }
  throw new ApiError("service_unavailable", `No model could answer (${failures.join("; ")})`, {
    headers: { "retry-after": "30" },
    details: { failures },
  });
}
