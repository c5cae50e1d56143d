/**
 * What a function evaluates at module load: its static import graph, as esbuild resolves it.
 * Cold start pays for every module reached through `import` / `require()` from the entry, while a
 * module reached only through `await import()` costs nothing until a request takes that path. The
 * deploy check and test/import-graph.test.ts use this to keep heavy clients out of functions that do
 * not use them on every request.
 */
import { existsSync } from "node:fs";
import { isBuiltin } from "node:module";
import { isAbsolute, join, relative, sep } from "node:path";
import { build, type ImportKind, type Metafile } from "esbuild";
import { externalPackages } from "./build";
import { projectRoot } from "./env";

export interface StaticGraph {
  /** npm packages evaluated at load, sorted (scoped names whole: `@googleapis/gmail`). */
  packages: string[];
  /** Project files evaluated at load, relative to the root with `/` separators, sorted. */
  files: string[];
}

/**
 * The modules that cost a cold start the most: model client, tokenizer, Google clients, OpenAPI
 * generator. Package names and project files, in the form `staticGraph` returns them. The project
 * files are the ones that import a heavy package at their own load. lib/llm/client.ts and
 * lib/llm/tokens.ts are not among them: they are the lazy boundaries of openai and gpt-tokenizer
 * (each imports its package on first use), so loading them costs nothing, and the packages being
 * here catches anyone importing them at load.
 */
export const heavyAtLoad = [
  "openai",
  "gpt-tokenizer",
  "@googleapis/gmail",
  "@googleapis/calendar",
  "google-auth-library",
  "zod-openapi",
  "lib/google/gmail.ts",
  "lib/google/calendar.ts",
  "lib/openapi.ts",
] as const;

export type HeavyModule = (typeof heavyAtLoad)[number];

/**
 * Evaluated at load: ES imports and CommonJS `require()`. A `require()` inside a function body counts
 * too (esbuild does not tell where it sits), so the graph errs towards loading more, never less.
 */
const staticKinds = new Set<ImportKind>(["import-statement", "require-call"]);

/** `node_modules/@scope/name/…` → `@scope/name`; the innermost node_modules wins (nested copies). */
function packageOf(path: string): string | undefined {
  const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(path);
  return match?.[1];
}

/** `@scope/name/sub/path` or `name/sub` → the package name. */
function packageOfSpecifier(specifier: string): string {
  const parts = specifier.split("/");
  return (specifier.startsWith("@") ? parts.slice(0, 2) : parts.slice(0, 1)).join("/");
}

/** `entry` as the metafile names it: relative to `root`, with `/`. */
function inputName(entry: string, root: string): string {
  const path = isAbsolute(entry) ? entry : join(root, entry);
  if (!existsSync(path)) {
    throw new Error(`No such entry: ${path}`);
  }
  return relative(root, path).split(sep).join("/");
}

/** Everything reached from `start` over static imports. */
function walk(inputs: Metafile["inputs"], start: string): StaticGraph {
  if (!inputs[start]) {
    throw new Error(`esbuild's metafile has no input ${start}`);
  }
  const packages = new Set<string>();
  const files = new Set<string>();
  const seen = new Set<string>();
  const queue = [start];
  for (let path = queue.pop(); path !== undefined; path = queue.pop()) {
    if (seen.has(path)) {
      continue;
    }
    seen.add(path);
    const name = packageOf(path);
    if (name) {
      packages.add(name);
    } else if (!path.startsWith("../") && !path.includes(":")) {
      files.add(path);
    }
    for (const edge of inputs[path]?.imports ?? []) {
      if (!staticKinds.has(edge.kind)) {
        continue;
      }
      if (edge.external) {
        // Left to Node at run time: a builtin costs nothing worth counting, a package is loaded.
        if (!isBuiltin(edge.path)) {
          packages.add(packageOfSpecifier(edge.path));
        }
        continue;
      }
      queue.push(edge.path);
    }
  }
  return { packages: [...packages].sort(), files: [...files].sort() };
}

/**
 * The static import graphs of several entries (paths, absolute or relative to `root`) from one
 * esbuild run, keyed by the entry as given: what the deploy check wants over every function, at the
 * cost of one build. Bundled as the deployed function is (node, ESM, node24; the packages
 * dev/build.ts keeps external stay so, every other package resolved and followed).
 */
export async function staticGraphs(
  entries: readonly string[],
  root: string = projectRoot,
): Promise<Map<string, StaticGraph>> {
  const names = entries.map((entry) => inputName(entry, root));
  const result = await build({
    entryPoints: names,
    absWorkingDir: root,
    // Nothing is written (write: false); esbuild wants an output directory for several entries.
    outdir: join(root, ".import-graph"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    write: false,
    metafile: true,
    logLevel: "silent",
    // Packages that find their own files stay external in the deployed bundle too.
    external: externalPackages,
  });
  // A file's imports do not depend on which entry reached it, so one metafile serves every entry.
  return new Map(entries.map((entry, index) => [entry, walk(result.metafile.inputs, names[index] ?? "")]));
}

/** The static import graph of one entry; see `staticGraphs`. */
export async function staticGraph(entry: string, root: string = projectRoot): Promise<StaticGraph> {
  const graph = (await staticGraphs([entry], root)).get(entry);
  if (!graph) {
    throw new Error(`No graph for ${entry}`);
  }
  return graph;
}

/** Which of `heavyAtLoad` a graph holds, in the order of that list. */
export function heavyIn(graph: StaticGraph): HeavyModule[] {
  const loaded = new Set([...graph.packages, ...graph.files]);
  return heavyAtLoad.filter((name) => loaded.has(name));
}

/** Which of `heavyAtLoad` the entry evaluates at module load, in the order of that list. */
export async function heavyLoaded(entry: string, root: string = projectRoot): Promise<HeavyModule[]> {
  return heavyIn(await staticGraph(entry, root));
}

/** `tsx dev/import-graph.ts`: the table of heavy modules each function loads at module load. */
async function main(): Promise<void> {
  const { discoverFunctions } = await import("./router");
  const names = discoverFunctions()
    .map((fn) => relative(projectRoot, fn.file))
    .sort();
  const graphs = await staticGraphs(names);
  console.table(
    names.map((name) => {
      const graph = graphs.get(name);
      return { function: name, heavy_at_load: graph ? heavyIn(graph).join(", ") : "?" };
    }),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
