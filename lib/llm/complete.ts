import { createHash } from "node:crypto";
import OpenAI from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
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
import { assertBudget, recordTokens } from "./budget";
import { getLlm, usesOpenRouter } from "./client";
import { estimateCost, modelsFor } from "./models";

export type ChatMessage = ChatCompletionMessageParam;

export interface StructuredRequest<S extends z.ZodType> {
  agent: AgentName;
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
function worthAnotherModel(error: unknown): boolean {
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
 * tokens count against the user's daily budget.
 */
export async function completeStructured<S extends z.ZodType>(
  request: StructuredRequest<S>,
): Promise<StructuredResult<z.output<S>>> {
  const config = getConfig();
  const client = getLlm();
  await assertBudget(request.userId);
  const models = modelsFor(request.agent);
  const format = zodResponseFormat(request.schema as never, request.schemaName);
  const cacheKey = `llm:cache:${createHash("sha256")
    .update(
      JSON.stringify({
        // Per user: a hit must never tell one user what another asked.
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

  const call = async (body: ChatCompletionCreateParamsNonStreaming): Promise<string> => {
    usage.calls += 1;
    const completion: ChatCompletion = await client.chat.completions.create(body, { signal: deadline });
    const reported = completion.usage as (ChatCompletion["usage"] & { cost?: number }) | undefined;
    const promptTokens = reported?.prompt_tokens ?? 0;
    const completionTokens = reported?.completion_tokens ?? 0;
    usage.model = completion.model || body.model;
    usage.promptTokens += promptTokens;
    usage.completionTokens += completionTokens;
    usage.costUsd += reported?.cost ?? estimateCost(body.model, promptTokens, completionTokens);
    await recordTokens(request.userId, promptTokens + completionTokens);
    return completion.choices[0]?.message?.content ?? "";
  };

  for (const model of models) {
    const body = {
      model,
      messages: request.messages,
      response_format: format,
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
      ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
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
      if (!worthAnotherModel(error)) {
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
