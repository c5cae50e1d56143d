import { decode } from "@toon-format/toon";
import { describe, expect, it } from "vitest";
import { encodeContext } from "../lib/toon";
import { leadsContext, nestedContext, tasksContext } from "./support/contexts";

describe("TOON context encoding", () => {
  // Uniform rows of short fields save the most; rows of long sentences save less, but still save.
  it.each([
    { name: "50 leads", context: leadsContext(50), atLeast: 40 },
    { name: "500 leads", context: leadsContext(500), atLeast: 40 },
    { name: "20 earlier tasks (long text)", context: tasksContext(20), atLeast: 20 },
  ])(
    "$name: TOON is chosen and saves at least $atLeast% against indented JSON",
    async ({ context, atLeast }) => {
      const encoded = await encodeContext(context);
      expect(encoded.format).toBe("toon");
      expect(encoded.toon_tokens).toBeLessThanOrEqual(encoded.compact_json_tokens);
      expect(encoded.savings_percent).toBeGreaterThanOrEqual(atLeast);
      expect(decode(encoded.text)).toEqual(context);
    },
  );

  it("never costs more than compact JSON: deeply nested data goes as whichever is smaller", async () => {
    const encoded = await encodeContext(nestedContext());
    expect(Math.min(encoded.toon_tokens, encoded.compact_json_tokens)).toBe(
      encoded.format === "toon" ? encoded.toon_tokens : encoded.compact_json_tokens,
    );
    const parsed = encoded.format === "toon" ? decode(encoded.text) : JSON.parse(encoded.text);
    expect(parsed).toEqual(nestedContext());
  });

  it("reports the prototype's savings figures with a real tokenizer", async () => {
    const encoded = await encodeContext({
      tag: "yes",
      leads: [
        { id: 1, name: "Ana", score: 82 },
        { id: 2, name: "Bo", score: 67 },
      ],
    });
    expect(encoded.text).toContain("leads[2]{id,name,score}:");
    expect(encoded.json_tokens).toBeGreaterThan(encoded.toon_tokens);
    expect(encoded.savings_percent).toBe(
      Math.round(((encoded.json_tokens - encoded.toon_tokens) / encoded.json_tokens) * 1000) / 10,
    );
  });
});
