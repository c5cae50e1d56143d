/**
 * `npm run build`: the deployment, prebuilt, in Vercel's Build Output API v3 (`.vercel/output`),
 * shipped with `vercel deploy --prebuilt` (Vercel runs no build of its own).
 *  - each function under api/ bundled by esbuild (tree-shaken ESM for Node 24, linked source maps)
 *    into `functions/<path>.func/index.mjs`;
 *  - packages that find their own files at run time (the browser driver, the packed Chromium,
 *    esbuild's native binary) kept external: @vercel/nft traces what the bundle needs of them and
 *    the traced files are copied into the function's own node_modules;
 *  - each `.vc-config.json` with the runtime and the maxDuration and memory that vercel.json
 *    declares for it (vercel.json stays the one source; see dev/vercel-config.ts);
 *  - `config.json` with the routes: the filesystem, vercel.json's rewrites, one route per dynamic
 *    function; crons carried over unchanged.
 * Docs: https://vercel.com/docs/build-output-api/v3 (primitives, configuration).
 */
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative } from "node:path";
import { nodeFileTrace } from "@vercel/nft";
import { build, type BuildOptions as EsbuildOptions, type Metafile } from "esbuild";
import { projectRoot } from "./env";
import {
  functionName,
  functionSettings,
  loadVercelConfig,
  type OutputRoute,
  outputRoutes,
} from "./vercel-config";

/** The runtime every function runs on (package.json's engines: Node 24). */
export const functionRuntime = "nodejs24.x";

/**
 * Packages that locate their own files on disk (a binary, a packed browser, a driver's protocol
 * files), so they cannot be inlined into a bundle; everything else is.
 */
export const externalPackages = ["playwright-core", "@sparticuz/chromium", "esbuild"];

/** `.vc-config.json` of a Node.js function as this build writes it. */
export interface VcConfig {
  runtime: string;
  handler: string;
  launcherType: "Nodejs";
  /** Off: the functions export Web handlers (`GET(request)`), not `(req, res)` with helpers. */
  shouldAddHelpers: false;
  shouldAddSourcemapSupport: true;
  supportsResponseStreaming: true;
  maxDuration: number;
  memory: number;
}

export interface OutputConfig {
  version: 3;
  routes: OutputRoute[];
  crons?: { path: string; schedule: string }[];
}

export interface OutputFunction {
  /** `api/tasks/[user_id]`: the URL path the filesystem phase serves it at. */
  name: string;
  /** `api/tasks/[user_id].ts` */
  source: string;
  /** `.vercel/output/functions/api/tasks/[user_id].func` */
  dir: string;
  /** Its `index.mjs`. */
  entry: string;
  vc: VcConfig;
  /** External packages copied into its node_modules. */
  externals: string[];
}

export interface BuildResult {
  outDir: string;
  functions: OutputFunction[];
  config: OutputConfig;
}

/** How every function is bundled (the bench bundles its trivial floor function the same way). */
export const bundleOptions = {
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  // Smaller files parse faster at cold start; names kept for stack traces and error classes.
  minify: true,
  keepNames: true,
  // Mappings only: a stack trace names the original file and line without shipping the sources.
  sourcemap: "linked",
  sourcesContent: false,
  external: externalPackages,
  // CommonJS dependencies inside an ES module bundle call require().
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: "error",
} satisfies EsbuildOptions;

export const defaultOutDir = (root = projectRoot) => join(root, ".vercel", "output");

const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
const packageOf = (specifier: string) =>
  specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : (specifier.split("/")[0] ?? "");

/** The external packages a build's outputs import (not Node's built-ins). */
function importedExternals(metafile: Metafile): string[] {
  const imports = Object.values(metafile.outputs).flatMap((output) => output.imports);
  return [
    ...new Set(imports.filter((i) => i.external && !builtins.has(i.path)).map((i) => packageOf(i.path))),
  ].sort();
}

/** Copies what @vercel/nft traces from `entry` into node_modules into the function's directory. */
async function copyTracedPackages(entry: string, dir: string, root: string): Promise<void> {
  const { fileList } = await nodeFileTrace([entry], { base: root, processCwd: root });
  for (const file of fileList) {
    if (!file.startsWith("node_modules/")) {
      continue;
    }
    const from = join(root, file);
    const to = join(dir, file);
    if (statSync(from).isFile()) {
      mkdirSync(dirname(to), { recursive: true });
      cpSync(from, to);
    }
  }
}

/** Bytes and files under a directory. */
export function directorySize(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      bytes += statSync(join(entry.parentPath, entry.name)).size;
      files += 1;
    }
  }
  return { bytes, files };
}

export interface BuildOptions {
  root?: string;
  outDir?: string;
}

export async function buildOutput(options: BuildOptions = {}): Promise<BuildResult> {
  const root = options.root ?? projectRoot;
  const outDir = options.outDir ?? defaultOutDir(root);
  const vercel = loadVercelConfig(root);
  const settings = functionSettings(vercel, root);
  const unsettled = settings.filter((fn) => fn.globs.length !== 1);
  if (unsettled.length) {
    throw new Error(
      `vercel.json must give each function its limits exactly once: ${unsettled
        .map((fn) => `${fn.source} (${fn.globs.length ? fn.globs.join(", ") : "no glob"})`)
        .join("; ")}`,
    );
  }
  rmSync(outDir, { recursive: true, force: true });
  const functionsDir = join(outDir, "functions");
  mkdirSync(functionsDir, { recursive: true });

  // One build per function, split: what a function imports lazily (an agent's definition, the
  // browser, the Google client) lands in a chunk of its own directory that is read only when a
  // request needs it, so a cold start parses only the module graph that loads eagerly.
  const functions = await Promise.all(
    settings.map(async (fn): Promise<OutputFunction> => {
      const name = functionName(fn.source);
      const dir = join(functionsDir, `${name}.func`);
      const entry = join(dir, "index.mjs");
      const { metafile } = await build({
        ...bundleOptions,
        absWorkingDir: root,
        entryPoints: { index: join(root, fn.source) },
        outdir: dir,
        splitting: true,
        chunkNames: "chunks/[name]-[hash]",
        metafile: true,
      });
      // Optional dependencies that are not installed (supports-color, canvas) are left as guarded
      // require() calls by esbuild; only the packages kept external on purpose are shipped.
      const externals = importedExternals(metafile).filter((pkg) => externalPackages.includes(pkg));
      if (externals.length) {
        await copyTracedPackages(entry, dir, root);
      }
      const vc: VcConfig = {
        runtime: functionRuntime,
        handler: "index.mjs",
        launcherType: "Nodejs",
        shouldAddHelpers: false,
        shouldAddSourcemapSupport: true,
        supportsResponseStreaming: true,
        maxDuration: fn.maxDuration as number,
        memory: fn.memory as number,
      };
      writeFileSync(join(dir, ".vc-config.json"), `${JSON.stringify(vc, null, 2)}\n`);
      return { name, source: fn.source, dir, entry, vc, externals };
    }),
  );

  const config: OutputConfig = {
    version: 3,
    routes: outputRoutes(vercel, root),
    ...(vercel.crons ? { crons: vercel.crons } : {}),
  };
  writeFileSync(join(outDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  return { outDir, functions, config };
}

/** The functions of an existing output, by name (`api/tasks/[user_id]`), with their directories. */
export function listOutputFunctions(outDir: string): { name: string; dir: string }[] {
  const functionsDir = join(outDir, "functions");
  if (!existsSync(functionsDir)) {
    return [];
  }
  return readdirSync(functionsDir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isDirectory() && entry.name.endsWith(".func"))
    .map((entry) => {
      const dir = join(entry.parentPath, entry.name);
      return { name: relative(functionsDir, dir).replace(/\.func$/, ""), dir };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const started = performance.now();
  const result = await buildOutput();
  for (const fn of result.functions) {
    const { bytes } = directorySize(fn.dir);
    console.log(
      `${fn.name.padEnd(58)} ${(bytes / 1e6).toFixed(2).padStart(7)} MB  ${fn.vc.memory} MB, ${fn.vc.maxDuration} s${
        fn.externals.length ? `  + ${fn.externals.join(", ")}` : ""
      }`,
    );
  }
  console.log(
    `\n${result.functions.length} functions in ${relative(projectRoot, result.outDir)} (${Math.round(performance.now() - started)} ms); deploy with \`vercel deploy --prebuilt\``,
  );
}
