import { encode } from "@toon-format/toon";
import { tokenCounter } from "./llm/tokens";

export interface EncodedContext {
  /** What goes into the prompt. */
  text: string;
  format: "toon" | "json";
  /** Tokens of the same data as indented JSON (the prototype's baseline). */
  json_tokens: number;
  compact_json_tokens: number;
  toon_tokens: number;
  /** Saving of the chosen encoding against indented JSON, in percent. */
  savings_percent: number;
}

/**
 * Encodes prompt context as TOON or compact JSON, whichever is fewer tokens by a real tokenizer:
 * TOON wins on uniform lists (leads, tasks), compact JSON can win on deeply nested objects.
 */
export async function encodeContext(value: unknown): Promise<EncodedContext> {
  const count = await tokenCounter();
  const toon = encode(value);
  const compact = JSON.stringify(value);
  const pretty = JSON.stringify(value, null, 2);
  const toonTokens = count(toon);
  const compactTokens = count(compact);
  const jsonTokens = count(pretty);
  const useToon = toonTokens <= compactTokens;
  const chosen = useToon ? toonTokens : compactTokens;
  return {
    text: useToon ? toon : compact,
    format: useToon ? "toon" : "json",
    json_tokens: jsonTokens,
    compact_json_tokens: compactTokens,
    toon_tokens: toonTokens,
    savings_percent: jsonTokens === 0 ? 0 : Math.round(((jsonTokens - chosen) / jsonTokens) * 1000) / 10,
  };
}
