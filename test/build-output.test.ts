import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildResult, buildOutput } from "../dev/build";
import { checkOutput } from "../dev/check-deploy";
import { projectRoot } from "../dev/env";
import { type FunctionModule, probe, probePath } from "../dev/probes";
import { createUser, tokenFor } from "./support/helpers";

/**
 * `npm run build` (Vercel's Build Output API v3): every function under api/ is in the output with
 * the limits vercel.json gives it, the deploy check passes on it and names what is wrong with a
 * tampered copy, and each built function — imported from .vercel/output/functions/**, as Vercel's
 * Node launcher imports it — serves a real request exactly as its source does.
 * Docs: https://vercel.com/docs/build-output-api/v3/primitives#serverless-functions
 */
// Inside the project, so the trace finds node_modules as the real build does.
const outDir = join(projectRoot, ".data", `build-test-${randomBytes(4).toString("hex")}`);
let built: BuildResult;

/**
 * Node's own loader, as Vercel's launcher loads a function: `require()` of an ES module (Node 24)
 * bypasses Vite's transform, which a plain `import()` here would go through (slow on megabyte
 * bundles, and not what production runs); the bundle's own lazy `import()`s are Node's too.
 */
const nodeRequire = createRequire(import.meta.url);
const importBuilt = async (file: string) => nodeRequire(file) as FunctionModule;

beforeAll(async () => {
  built = await buildOutput({ outDir });
  // A busy machine bundles 45 functions slowly; the build's speed is the bench's business.
}, 900_000);
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const failures = (results: { ok: boolean; check: string; detail: string }[]) =>
  results.filter((result) => !result.ok).map((result) => `${result.check}: ${result.detail}`);

describe("build output", () => {
  it("holds every function with vercel.json's limits, the routes, and passes the deploy check", async () => {
    const vercel = JSON.parse(readFileSync(join(projectRoot, "vercel.json"), "utf8"));
    const config = JSON.parse(readFileSync(join(outDir, "config.json"), "utf8"));
    expect(config.version).toBe(3);
    expect(config.routes[0]).toEqual({ handle: "filesystem" });
    expect(config.routes).toContainEqual({ src: "^/webhook/([^/]+)$", dest: "/api/webhook/$1", check: true });
    expect(config.routes).toContainEqual({
      src: "^/api/tasks/([^/]+)$",
      dest: "/api/tasks/[user_id]?user_id=$1",
    });
    const scrape = JSON.parse(
      readFileSync(join(outDir, "functions", "api", "workers", "scrape.func", ".vc-config.json"), "utf8"),
    );
    expect(scrape).toMatchObject({
      runtime: "nodejs24.x",
      handler: "index.mjs",
      launcherType: "Nodejs",
      maxDuration: vercel.functions["api/workers/scrape.ts"].maxDuration,
      memory: vercel.functions["api/workers/scrape.ts"].memory,
    });
    expect(built.functions.find((fn) => fn.name === "api/workers/scrape")?.externals).toEqual([
      "@sparticuz/chromium",
      "playwright-core",
    ]);
    expect(failures(await checkOutput(projectRoot, outDir))).toEqual([]);
  });

  it("serves each function's probe request from its bundle as its source does", async () => {
    const differences: string[] = [];
    for (const fn of built.functions) {
      const bundle = await importBuilt(fn.entry);
      const source = (await import(pathToFileURL(join(projectRoot, fn.source)).href)) as FunctionModule;
      const fromBundle = await probe(bundle, fn.name);
      const fromSource = await probe(source, fn.name);
      const code = (body: string) => {
        try {
          return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
        } catch {
          return undefined;
        }
      };
      if (fn.name === "api/health") {
        // The bundle has its own copy of lib/ and, as in production, reaches the database only
        // through DATABASE_URL and Redis only through Upstash's REST URL: the suites plug their
        // embedded database and Redis transport into this process's modules, not the bundle's.
        // So it answers the 503 envelope naming exactly what it cannot reach.
        const answer = JSON.parse(fromBundle.body) as {
          error: { code: string; details: Record<string, { ok: boolean }> };
        };
        expect(fromBundle.status, fromBundle.body).toBe(503);
        expect(answer.error.code).toBe("service_unavailable");
        expect(answer.error.details.database?.ok, fromBundle.body).toBe(Boolean(process.env.DATABASE_URL));
        expect(answer.error.details.redis?.ok, fromBundle.body).toBe(false);
        continue;
      }
      if (
        fromBundle.status !== fromSource.status ||
        code(fromBundle.body) !== code(fromSource.body) ||
        fromBundle.contentType !== fromSource.contentType
      ) {
        differences.push(
          `${fn.name} ${fromBundle.method} ${probePath(fn.name)}: bundle ${fromBundle.status} ${fromBundle.body.slice(0, 300)}; source ${fromSource.status} ${fromSource.body.slice(0, 300)}`,
        );
      }
      expect(fromBundle.status, `${fn.name}: ${fromBundle.body.slice(0, 500)}`).toBeLessThan(
        fn.name === "api/health" || fn.name === "api/webhook/email" ? 600 : 500,
      );
    }
    expect(differences).toEqual([]);
  }, 300_000);

  it("answers real requests from its bundles: the OpenAPI document, the 404 envelope, an authorized query", async () => {
    const entry = (name: string) => built.functions.find((fn) => fn.name === name)?.entry as string;
    const openapi = await importBuilt(entry("api/openapi"));
    const document = await (openapi.GET as (request: Request) => Promise<Response>)(
      new Request("http://localhost:3000/openapi.json"),
    );
    expect(document.status).toBe(200);
    const spec = (await document.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toContain("/api/tasks/{user_id}");

    const catchAll = await importBuilt(entry("api/[...path]"));
    const missing = await (catchAll.GET as (request: Request) => Promise<Response>)(
      new Request("http://localhost:3000/api/nothing/here?path=nothing/here"),
    );
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ success: false, error: { code: "not_found" } });

    if (process.env.DATABASE_URL) {
      // Against PostgreSQL the bundle reaches the same database as this process: a signed-in
      // user's own (empty) task list, through the bundle's auth check and query.
      const user = await createUser();
      const tasks = await importBuilt(entry("api/tasks/[user_id]"));
      const answer = await (tasks.GET as (request: Request) => Promise<Response>)(
        new Request(`http://localhost:3000/api/tasks/${user}?user_id=${user}`, {
          headers: { authorization: `Bearer ${await tokenFor(user)}` },
        }),
      );
      const body = await answer.text();
      expect(answer.status, body).toBe(200);
      expect(JSON.parse(body)).toMatchObject({ success: true, data: [] });
    }
  }, 120_000);

  it("the deploy check names what is wrong with a tampered output", async () => {
    const functions = join(outDir, "functions", "api");
    const vc = join(functions, "health.func", ".vc-config.json");
    writeFileSync(vc, JSON.stringify({ ...JSON.parse(readFileSync(vc, "utf8")), memory: 3008 }));
    rmSync(join(functions, "unsubscribe.func"), { recursive: true });
    writeFileSync(
      join(functions, "bot.func", "chunks.mjs.map"),
      JSON.stringify({
        version: 3,
        sources: [relative(join(functions, "bot.func"), join(projectRoot, "test", "support", "helpers.ts"))],
        mappings: "",
      }),
    );
    mkdirSync(join(functions, "docs.func", "node_modules"), { recursive: true });
    cpSync(
      join(functions, "workers", "scrape.func", "node_modules", "playwright-core", "package.json"),
      join(functions, "docs.func", "node_modules", "playwright-core", "package.json"),
    );
    const configFile = join(outDir, "config.json");
    const config = JSON.parse(readFileSync(configFile, "utf8"));
    config.routes = config.routes.filter((route: { src?: string }) => route.src !== "^/bot$");
    writeFileSync(configFile, JSON.stringify(config));

    expect(failures(await checkOutput(projectRoot, outDir))).toEqual([
      "output config.json: its routes are not the ones vercel.json and api/ give: rebuild",
      expect.stringMatching(/^function api\/bot: .*bundles dev or test code: test\/support\/helpers\.ts/),
      expect.stringMatching(/^function api\/docs: .*carries playwright-core/),
      expect.stringMatching(
        /^function api\/health: .*\.vc-config\.json says 10 s \/ 3008 MB, vercel\.json 10 s \/ 512 MB/,
      ),
      "function api/unsubscribe: missing from the output: rebuild",
      expect.stringMatching(/^router URLs = output routes: .*\/bot: router api\/bot\.ts, output 404/),
    ]);
  });
});
