import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { compile, match } from "path-to-regexp";
import { ApiError } from "../lib/http/errors";
import { errorResponse } from "../lib/http/handler";
import { projectRoot } from "./env";
import { loadVercelConfig } from "./vercel-config";

type FunctionModule = Partial<Record<string, (request: Request) => Promise<Response>>>;

interface FunctionRoute {
  file: string;
  /** `/api/tasks/:user_id` */
  pattern: string;
  match: ReturnType<typeof match>;
  /** Static segments first, as Vercel prefers them over dynamic ones. */
  specificity: number;
}

interface Rewrite {
  source: string;
  destination: string;
}

function listFunctionFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) {
      return listFunctionFiles(full);
    }
    return /\.ts$/.test(entry) && !entry.startsWith("_") && !entry.endsWith(".d.ts") ? [full] : [];
  });
}

/** Routing never fails on a malformed segment: the function's own wrapper answers it with a 400. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Maps `api/tasks/[user_id].ts` to `/api/tasks/:user_id`, as Vercel's filesystem routing does. */
export function discoverFunctions(root = projectRoot): FunctionRoute[] {
  const apiDir = join(root, "api");
  return listFunctionFiles(apiDir)
    .map((file) => {
      const segments = relative(root, file)
        .replace(/\.ts$/, "")
        .split("/")
        .filter((segment, index, all) => !(segment === "index" && index === all.length - 1));
      const pattern = `/${segments
        .map((s) => s.replace(/^\[\.\.\.(\w+)\]$/, ":$1*").replace(/^\[(\w+)\]$/, ":$1"))
        .join("/")}`;
      return {
        file,
        pattern,
        match: match(pattern, { decode: safeDecode }),
        // Static segments win over dynamic ones, and catch-alls come last, as on Vercel.
        specificity:
          segments.filter((s) => !s.startsWith("[")).length * 100 -
          segments.length -
          (segments.some((s) => s.startsWith("[...")) ? 10_000 : 0),
      };
    })
    .sort((a, b) => b.specificity - a.specificity);
}

export function loadRewrites(root = projectRoot): Rewrite[] {
  return loadVercelConfig(root).rewrites;
}

/**
 * The local function router: the same URLs as production, from the files under `api/` and the
 * rewrites in `vercel.json`. Dynamic segments are also passed as query parameters, as on Vercel.
 */
export function createRouter(root = projectRoot) {
  const functions = discoverFunctions(root);
  const rewrites = loadRewrites(root).map((rewrite) => ({
    from: match(rewrite.source, { decode: safeDecode }),
    destination: rewrite.destination,
  }));
  const modules = new Map<string, Promise<FunctionModule>>();

  const load = (file: string) => {
    let module = modules.get(file);
    if (!module) {
      module = import(pathToFileURL(file).href) as Promise<FunctionModule>;
      modules.set(file, module);
    }
    return module;
  };

  const resolve = (pathname: string, search: URLSearchParams) => {
    for (const rewrite of rewrites) {
      const hit = rewrite.from(pathname);
      if (hit) {
        const params = hit.params as Record<string, string>;
        const [destPath = "", destQuery = ""] = rewrite.destination.split("?");
        pathname = compile(destPath, { encode: encodeURIComponent })(params);
        for (const [key, value] of new URLSearchParams(destQuery)) {
          search.set(
            key,
            value.replace(/^:(\w+)$/, (_, name: string) => params[name] ?? ""),
          );
        }
        break;
      }
    }
    for (const fn of functions) {
      const hit = fn.match(pathname);
      if (hit) {
        for (const [key, value] of Object.entries(hit.params as Record<string, string>)) {
          search.set(key, value);
        }
        return fn;
      }
    }
    return undefined;
  };

  return {
    functions,
    /** The function file a production URL path reaches (after the rewrites), if any. */
    fileFor: (pathname: string) => resolve(pathname, new URLSearchParams())?.file,
    preload: () => Promise.all(functions.map((fn) => load(fn.file))),
    async handle(request: Request): Promise<Response> {
      const url = new URL(request.url);
      const search = new URLSearchParams(url.search);
      const fn = resolve(url.pathname, search);
      if (!fn) {
        return notFound(url.pathname);
      }
      const module = await load(fn.file);
      const handler = module[request.method] ?? (request.method === "HEAD" ? module.GET : undefined);
      if (!handler) {
        return errorResponse(
          new ApiError("method_not_allowed", `${request.method} is not allowed`),
          crypto.randomUUID(),
        );
      }
      // The function sees the URL the client asked for, plus dynamic segments as query parameters.
      const forwarded = new URL(url);
      forwarded.search = search.toString();
      return handler(
        new Request(forwarded, {
          method: request.method,
          headers: request.headers,
          body: request.method === "GET" || request.method === "HEAD" ? null : request.body,
          duplex: "half",
        } as RequestInit),
      );
    },
  };
}

export function notFound(pathname: string): Response {
  return errorResponse(new ApiError("not_found", `No route for ${pathname}`), crypto.randomUUID());
}
