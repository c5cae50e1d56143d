/**
 * vercel.json, read once for everything that needs it: the local router (rewrites), the build
 * (each function's limits and the output's routes) and the deploy check (that the two agree).
 * vercel.json stays the one place where durations, memory and rewrites are declared; the build
 * derives `.vercel/output` from it and never states a limit of its own.
 */
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import picomatch from "picomatch";
import { z } from "zod";
import { projectRoot } from "./env";
import { discoverFunctions } from "./router";

export const vercelConfigSchema = z.object({
  rewrites: z
    .array(z.object({ source: z.string().startsWith("/"), destination: z.string().startsWith("/") }).strict())
    .default([]),
  functions: z.record(
    z.string(),
    z.object({ maxDuration: z.int().min(1).max(800), memory: z.int().min(128).max(3009) }).strict(),
  ),
  // Vercel Cron Jobs; the schedules are QStash's today (lib/schedules.ts), but a cron declared here
  // is carried into the build output unchanged.
  crons: z.array(z.object({ path: z.string().startsWith("/"), schedule: z.string() }).strict()).optional(),
});
export type VercelConfig = z.infer<typeof vercelConfigSchema>;

export function readVercelJson(root = projectRoot): unknown {
  return JSON.parse(readFileSync(join(root, "vercel.json"), "utf8"));
}

/** vercel.json validated; throws naming every bad field. */
export function loadVercelConfig(root = projectRoot): VercelConfig {
  const parsed = vercelConfigSchema.safeParse(readVercelJson(root));
  if (!parsed.success) {
    throw new Error(`vercel.json: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export interface FunctionSettings {
  /** `api/tasks/[user_id].ts` */
  source: string;
  /** The vercel.json `functions` globs that match it: exactly one, or the limits are ambiguous. */
  globs: string[];
  maxDuration?: number;
  memory?: number;
}

/** Each function under api/ with the limits vercel.json gives it. */
export function functionSettings(config: VercelConfig, root = projectRoot): FunctionSettings[] {
  return discoverFunctions(root).map((fn) => {
    const source = relative(root, fn.file);
    const globs = Object.keys(config.functions).filter((glob) => picomatch.isMatch(source, glob));
    const limits = globs.length === 1 ? config.functions[globs[0] as string] : undefined;
    return { source, globs, ...limits };
  });
}

/** One route of the Build Output API's config.json (the subset this project emits). */
export type OutputRoute = { handle: "filesystem" } | { src: string; dest: string; check?: true };

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A path-to-regexp pattern as the routes' regex: `:name` is one segment, `:name*` any rest
 * (including none). Returns the regex and the parameter names in capture order.
 */
export function patternToRegex(pattern: string): { src: string; params: string[] } {
  const params: string[] = [];
  let src = "";
  for (const segment of pattern.split("/").slice(1)) {
    const catchAll = /^:(\w+)\*$/.exec(segment);
    const single = /^:(\w+)$/.exec(segment);
    if (catchAll?.[1]) {
      params.push(catchAll[1]);
      src += "(?:/(.*))?";
    } else if (single?.[1]) {
      params.push(single[1]);
      src += "/([^/]+)";
    } else {
      src += `/${escapeRegex(segment)}`;
    }
  }
  return { src: `^${src}$`, params };
}

/** `/api/tasks/:user_id` → the output function `api/tasks/[user_id]`. */
export function functionName(source: string): string {
  return source.replace(/\.ts$/, "").replace(/\/index$/, "");
}

/**
 * The output's routes: the filesystem first (static function paths win, as on Vercel), then
 * vercel.json's rewrites (checked against the filesystem again, as Vercel converts them), then one
 * route per dynamic function, most specific first, passing each segment as a query parameter as
 * Vercel's filesystem routing does.
 */
export function outputRoutes(config: VercelConfig, root = projectRoot): OutputRoute[] {
  const rewrites = config.rewrites.map((rewrite): OutputRoute => {
    const { src, params } = patternToRegex(rewrite.source);
    const dest = rewrite.destination.replace(/:(\w+)/g, (whole, name: string) => {
      const index = params.indexOf(name);
      return index === -1 ? whole : `$${index + 1}`;
    });
    return { src, dest, check: true };
  });
  const dynamic = discoverFunctions(root)
    .filter((fn) => fn.pattern.includes(":"))
    .map((fn): OutputRoute => {
      const { src, params } = patternToRegex(fn.pattern);
      const name = functionName(relative(root, fn.file));
      const query = params.map((param, index) => `${param}=$${index + 1}`).join("&");
      return { src, dest: `/${name}?${query}` };
    });
  return [{ handle: "filesystem" }, ...rewrites, ...dynamic];
}

/**
 * Where the output's routes send a URL path: the function name and the query it adds, or
 * undefined (Vercel's 404). Follows the semantics of the routes above: a filesystem phase, then
 * each route in order; a `check` route's destination must exist or routing goes on.
 */
export function resolveOutputRoute(
  routes: OutputRoute[],
  functions: Set<string>,
  pathname: string,
): { name: string; query: URLSearchParams } | undefined {
  let path = pathname;
  const query = new URLSearchParams();
  const existing = (candidate: string) =>
    functions.has(candidate.slice(1)) ? candidate.slice(1) : undefined;
  for (const route of routes) {
    if ("handle" in route) {
      const hit = existing(path);
      if (hit) {
        return { name: hit, query };
      }
      continue;
    }
    const matched = new RegExp(route.src).exec(path);
    if (!matched) {
      continue;
    }
    const dest = route.dest.replace(/\$(\d+)/g, (_, index: string) => matched[Number(index)] ?? "");
    const [destPath = "", destQuery = ""] = dest.split("?");
    path = destPath;
    for (const [key, value] of new URLSearchParams(destQuery)) {
      query.set(key, value);
    }
    const hit = existing(path);
    if (hit || !route.check) {
      return hit ? { name: hit, query } : undefined;
    }
  }
  return undefined;
}
