import { type Config, getConfig } from "../config";
import type { AgentName } from "../db/schema";

/** The prototype's choices: Nemotron for the thinking agents, Claude Haiku for the acting ones. */
const defaults: Record<AgentName, string> = {
  "product-manager": "nvidia/nemotron-nano-12b-v2-vl:free",
  "finance-manager": "nvidia/nemotron-nano-12b-v2-vl:free",
  "marketing-strategist": "nvidia/nemotron-nano-12b-v2-vl:free",
  "leadgen-scraper": "anthropic/claude-3-haiku",
  "outbound-emailer": "anthropic/claude-3-haiku",
  "booking-callprep": "anthropic/claude-3-haiku",
  engineer: "anthropic/claude-3-haiku",
};

const overrideKey = (agent: AgentName) =>
  `LLM_MODEL_${agent.toUpperCase().replaceAll("-", "_")}` as keyof Config;

/** The agent's model, then the fallbacks, without repeats. */
export function modelsFor(agent: AgentName): string[] {
  const config = getConfig();
  const primary = (config[overrideKey(agent)] as string | undefined) ?? defaults[agent];
  const fallbacks = (config.LLM_FALLBACK_MODELS ?? "")
    .split(",")
    .map((model) => model.trim())
    .filter(Boolean);
  return [...new Set([primary, ...fallbacks])];
}

/** USD per million tokens, for providers that do not report the cost themselves. */
const prices: Record<string, { input: number; output: number }> = {
  "nvidia/nemotron-nano-12b-v2-vl:free": { input: 0, output: 0 },
  "anthropic/claude-3-haiku": { input: 0.25, output: 1.25 },
  "anthropic/claude-3.5-haiku": { input: 0.8, output: 4 },
  "openai/gpt-4o-mini": { input: 0.15, output: 0.6 },
};

/** The model's price; one the table does not know is reserved at LLM_UNKNOWN_MODEL_PRICE. */
export function priceOf(model: string): { input: number; output: number } {
  const known = prices[model];
  if (known) {
    return known;
  }
  const [input = 0, output = 0] = getConfig().LLM_UNKNOWN_MODEL_PRICE.split(",").map(Number);
  return { input, output };
}

/** USD a call cost by the model's price, for providers that do not report it. */
export function estimateCost(model: string, promptTokens: number, completionTokens: number): number {
  const price = priceOf(model);
  return (promptTokens * price.input + completionTokens * price.output) / 1_000_000;
}
