import type { ChatCompletionMessageParam } from "openai/resources";

type CountTokens = (text: string) => number;
let tokenizer: Promise<CountTokens> | undefined;

/** The o200k tokenizer (GPT-4o family), loaded on first use: its tables cost ~400 ms to import. */
export function tokenCounter(): Promise<CountTokens> {
  tokenizer ??= import("gpt-tokenizer/encoding/o200k_base").then((module) => module.countTokens);
  return tokenizer;
}

/**
 * The models we route to (Claude, Nemotron, GPT) each tokenize differently; o200k counts are the
 * real count for GPT-4o and run up to a fifth under Claude's on English and code. The bound takes
 * the larger of o200k × 1.3 and one token per 3.5 bytes, plus the chat template's few tokens per
 * message, so a reservation made from it is not exceeded by the provider's own count.
 */
const factor = 1.3;
const bytesPerToken = 3.5;
const perMessage = 8;

export async function tokenBound(text: string): Promise<number> {
  const count = await tokenCounter();
  return Math.ceil(Math.max(count(text) * factor, Buffer.byteLength(text) / bytesPerToken));
}

/** An upper bound of the prompt tokens a chat request is billed: every message and the response schema. */
export async function promptTokenBound(
  messages: ChatCompletionMessageParam[],
  schema: unknown,
): Promise<number> {
  const text = messages
    .map((message) =>
      typeof message.content === "string" ? message.content : JSON.stringify(message.content),
    )
    .join("\n");
  return (await tokenBound(`${text}\n${JSON.stringify(schema)}`)) + perMessage * messages.length;
}
