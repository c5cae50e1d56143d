import { mkdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { nodeFileTrace } from "@vercel/nft";
import { type BuildOptions, build } from "esbuild";
import { projectRoot } from "./env";
import { discoverFunctions } from "./router";

export interface BuiltFunction {
  /** `api/workers/scrape.ts` */
  name: string;
  /** Our code compiled, packages left to node_modules: what Vercel's Node builder ships. */
  file: string;
  /** Everything bundled into one file (to show what bundling would save at cold start). */
  bundled: string;
}

/** Compiles every function under api/ into `outDir`, both ways. */
export async function buildFunctions(outDir: string, root = projectRoot): Promise<BuiltFunction[]> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const built: BuiltFunction[] = [];
  for (const fn of discoverFunctions(root)) {
    const name = relative(root, fn.file);
    const file = join(outDir, name.replace(/\.ts$/, ".mjs"));
    const bundled = join(outDir, "bundled", name.replace(/\.ts$/, ".mjs"));
    const common: BuildOptions = {
      entryPoints: [fn.file],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node24",
    };
    await build({ ...common, outfile: file, packages: "external", logLevel: "silent" });
    await build({
      ...common,
      outfile: bundled,
      logLevel: "error",
      // Packages that find their own files (the browser driver, the packed Chromium) stay external.
      external: ["playwright-core", "@sparticuz/chromium"],
      // CommonJS dependencies inside an ES module bundle need require().
      banner: {
        js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
      },
    });
    built.push({ name, file, bundled });
  }
  return built;
}

export interface TracedFunction {
  files: number;
  bytes: number;
  /** Bytes per npm package, largest first. */
  packages: [string, number][];
}

/** What Vercel would ship for a compiled function: every file @vercel/nft traces from it. */
export async function traceFunction(file: string, root = projectRoot): Promise<TracedFunction> {
  const { fileList } = await nodeFileTrace([file], { base: root, processCwd: root });
  const byPackage = new Map<string, number>();
  let bytes = 0;
  for (const path of fileList) {
    const full = join(root, path);
    const size = statSync(full).isFile() ? statSync(full).size : 0;
    bytes += size;
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
    if (match?.[1]) {
      byPackage.set(match[1], (byPackage.get(match[1]) ?? 0) + size);
    }
  }
  return { files: fileList.size, bytes, packages: [...byPackage.entries()].sort((a, b) => b[1] - a[1]) };
}
