import type OpenAI from "openai";
import { getConfig } from "../config";
import { ApiError } from "../http/errors";

type OpenAiModule = typeof import("openai");

let library: Promise<OpenAiModule> | undefined;
let client: OpenAI | undefined;

export const openRouterUrl = "https://openrouter.ai/api/v1";

/**
 * The openai package, loaded by the first model call rather than with the function: agent requests
 * that are refused, replayed or run in the background never call a model, and it is the largest
 * import of an agent function. Its error classes come from here too (`instanceof` needs the same copy).
 */
export function openAiLibrary(): Promise<OpenAiModule> {
  library ??= import("openai");
  return library;
}

/** Whether a model provider is configured (what `getLlm` needs to not refuse with `llm_not_configured`). */
export function modelConfigured(): boolean {
  const config = getConfig();
  return Boolean(config.OPENROUTER_API_KEY || config.LLM_BASE_URL);
}

/** 503 `llm_not_configured`, naming what to set, unless a model provider is configured. */
export function assertModelConfigured(): void {
  if (!modelConfigured()) {
    throw new ApiError(
      "llm_not_configured",
      "No model provider is configured: set OPENROUTER_API_KEY, or LLM_BASE_URL (and LLM_API_KEY if it needs one)",
      { retryable: false },
    );
  }
}

/** The model provider: OpenRouter, or any OpenAI-compatible server at LLM_BASE_URL. */
export async function getLlm(): Promise<OpenAI> {
  if (client) {
    return client;
  }
  assertModelConfigured();
  const { default: OpenAIClient } = await openAiLibrary();
  const config = getConfig();
  // Concurrent first calls all waited for the import; the first to get here makes the one client.
  client ??= new OpenAIClient({
    baseURL: config.LLM_BASE_URL ?? openRouterUrl,
    apiKey: config.LLM_API_KEY ?? config.OPENROUTER_API_KEY ?? "none",
    timeout: config.LLM_TIMEOUT_MS,
    maxRetries: config.LLM_MAX_RETRIES,
    defaultHeaders: { "HTTP-Referer": config.APP_URL, "X-Title": "AI Agent Team" },
  });
  return client;
}

export function usesOpenRouter(): boolean {
  const config = getConfig();
  return !config.LLM_BASE_URL || config.LLM_BASE_URL.startsWith(openRouterUrl);
}
