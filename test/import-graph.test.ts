import { relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../dev/env";
import {
  type HeavyModule,
  heavyAtLoad,
  heavyIn,
  heavyLoaded,
  type StaticGraph,
  staticGraph,
  staticGraphs,
} from "../dev/import-graph";
import { discoverFunctions } from "../dev/router";

/**
 * Cold start: each function evaluates its static import graph on every cold start, so the model
 * client, the tokenizer, the Google clients and the OpenAPI generator are loaded at module load only
 * by a function that uses them on every request; everywhere else they are `await import()`ed where
 * they are first needed.
 */

/** The functions allowed a heavy module at load, and why every request needs it. */
const allowed: Record<string, { heavy: HeavyModule[]; reason: string }> = {
  "api/openapi.ts": {
    heavy: ["zod-openapi", "lib/openapi.ts"],
    reason: "generating the document is the function's only job: every GET needs it",
  },
};

/** Shared wrappers every function (or every agent, or every query endpoint) is built on. */
const wrappers = ["lib/http/handler.ts", "lib/agents/route.ts", "lib/queries/route.ts"];

const functions = discoverFunctions()
  .map((fn) => relative(projectRoot, fn.file))
  .sort();
let graphs: Map<string, StaticGraph>;

beforeAll(async () => {
  // One esbuild run for every function and wrapper (the graphs share most of their files).
  graphs = await staticGraphs([...functions, ...wrappers]);
});

describe("heavy modules at module load", () => {
  it.each(functions)("%s loads only what every request needs", (name) => {
    const graph = graphs.get(name);
    expect(graph?.files).toContain(name);
    expect(heavyIn(graph as StaticGraph)).toEqual(allowed[name]?.heavy ?? []);
  });

  it.each(wrappers)("the shared wrapper %s loads none of them", (name) => {
    expect(heavyIn(graphs.get(name) as StaticGraph)).toEqual([]);
  });

  it("every exception names a function that exists and a heavy module we track", () => {
    for (const [name, exception] of Object.entries(allowed)) {
      expect(functions).toContain(name);
      expect(exception.reason).not.toBe("");
      for (const heavy of exception.heavy) {
        expect(heavyAtLoad).toContain(heavy);
      }
    }
  });
});

describe("staticGraph", () => {
  const fixture = "test/fixtures/import-graph";

  it("follows static imports and leaves out what only a dynamic import reaches", async () => {
    const graph = await staticGraph(`${fixture}/entry.ts`);
    expect(graph.files).toEqual([`${fixture}/at-load.ts`, `${fixture}/entry.ts`]);
    // Scoped names stay whole; zod-openapi is behind the dynamic import, so it is not there.
    expect(graph.packages).toContain("@toon-format/toon");
    expect(graph.packages).not.toContain("zod-openapi");
    expect(await heavyLoaded(`${fixture}/entry.ts`)).toEqual([]);
  });

  it("sees the same module when it is imported statically", async () => {
    const graph = await staticGraph(`${fixture}/eager-entry.ts`);
    expect(graph.files).toEqual([`${fixture}/eager-entry.ts`, `${fixture}/lazy-part.ts`]);
    expect(graph.packages).toContain("zod-openapi");
    expect(await heavyLoaded(`${fixture}/eager-entry.ts`)).toEqual(["zod-openapi"]);
  });

  it("names the project files of a real function relative to the root", async () => {
    const graph = graphs.get("api/agents/engineer.ts") as StaticGraph;
    expect(graph.files).toEqual(expect.arrayContaining(["lib/http/handler.ts", "lib/agents/route.ts"]));
    expect(graph.files.every((file) => !file.startsWith("/") && !file.includes("node_modules"))).toBe(true);
  });
});
