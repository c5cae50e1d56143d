import OpenAI from "openai";
import { getConfig } from "../config";
import { ApiError } from "../http/errors";

let client: OpenAI | undefined;

export const openRouterUrl = "https://openrouter.ai/api/v1";

/** Whether a model provider is configured (what `getLlm` needs to not refuse with `llm_not_configured`). */
export function modelConfigured(): boolean {
  const config = getConfig();
  return Boolean(config.OPENROUTER_API_KEY || config.LLM_BASE_URL);
}

/** The model provider: OpenRouter, or any OpenAI-compatible server at LLM_BASE_URL. */
export function getLlm(): OpenAI {
  if (client) {
    return client;
  }
  const config = getConfig();
  if (!modelConfigured()) {
    throw new ApiError(
      "llm_not_configured",
      "No model provider is configured: set OPENROUTER_API_KEY, or LLM_BASE_URL (and LLM_API_KEY if it needs one)",
      { retryable: false },
    );
  }
  client = new OpenAI({
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
