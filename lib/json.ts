/**
 * Untrusted JSON (request bodies, a page's JSON-LD) is walked by code that recurses (hashing,
 * stringifying, PostgreSQL's jsonb parser): its depth is bounded before anything walks it.
 */
/** How deep untrusted JSON may nest: deeper is no real client's or page's, and would exhaust a recursive walker. */
export const maxJsonDepth = 32;

/**
 * What makes a parsed JSON value unstorable or unsafe to walk: a NUL character in a string or key
 * (PostgreSQL cannot store U+0000 in text or jsonb), or nesting deeper than `maxJsonDepth`. Walked
 * with an explicit stack, so the check itself survives any depth.
 */
export function jsonProblem(value: unknown): string | undefined {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [next, depth] = pending.pop() as [unknown, number];
    if (typeof next === "string") {
      if (next.includes("\u0000")) {
        return "contains a NUL character (\\u0000), which cannot be stored";
      }
    } else if (next && typeof next === "object") {
      if (depth >= maxJsonDepth) {
        return `is nested more than ${maxJsonDepth} levels deep`;
      }
      if (Array.isArray(next)) {
        // One by one: spreading a body's 500,000-element array would overflow the call stack.
        for (const item of next) {
          pending.push([item, depth + 1]);
        }
      } else {
        for (const [key, inner] of Object.entries(next)) {
          if (key.includes("\u0000")) {
            return "contains a NUL character (\\u0000), which cannot be stored";
          }
          pending.push([inner, depth + 1]);
        }
      }
    }
  }
  return undefined;
}
