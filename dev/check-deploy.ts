/**
 * `npm run check:deploy`: what a deployment needs that no unit test sees.
 *  - vercel.json: valid limits; every functions glob matches a function and every function has
 *    its limits from exactly one glob; every rewrite, schedule, worker and callback path reaches a
 *    function.
 *  - the build output (`npm run build`, .vercel/output): every function present with the runtime,
 *    maxDuration and memory vercel.json gives it; the routes and crons derived from vercel.json;
 *    each function under its size budget (250 MB is Vercel's hard limit); Chromium and its driver
 *    only in the scrape worker; no dev, test or bench code and no devDependency in any bundle (read
 *    off the source maps); the local router and the output's routes sending every URL to the same
 *    function.
 *  - migrations: all of them apply from zero on a fresh database (PGlite, or a new database on
 *    DATABASE_URL's server), with row-level security on every table.
 *  - .env.example names every variable the config schema reads.
 * Exits non-zero naming each failure.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import picomatch from "picomatch";
import { z } from "zod";
import {
  defaultOutDir,
  directorySize,
  functionRuntime,
  listOutputFunctions,
  type OutputConfig,
  type VcConfig,
} from "./build";
import { projectRoot } from "./env";
import { probePath } from "./probes";
import { createRouter, discoverFunctions } from "./router";
import {
  functionName,
  functionSettings,
  loadVercelConfig,
  outputRoutes,
  readVercelJson,
  resolveOutputRoute,
  vercelConfigSchema,
} from "./vercel-config";

export interface CheckResult {
  check: string;
  ok: boolean;
  detail: string;
}

/** Vercel's hard limit on a function's uncompressed size. */
const hardLimitBytes = 250 * 1e6;
/**
 * Our own budgets, source maps included: the scrape worker carries a packed browser (about 65 MB);
 * the functions that can reach the engineer's code checks carry esbuild's native binary (about
 * 11 MB) beside the agents' code; a request-path function is a few MB of bundled code.
 */
export function budgetBytes(name: string): number {
  if (name === "api/workers/scrape") {
    return 150 * 1e6;
  }
  if (/^api\/(agents|workers)\//.test(name) || name === "api/webhook/task" || name === "api/openapi") {
    return 40 * 1e6;
  }
  return 12 * 1e6;
}
const browserPackages = ["@sparticuz/chromium", "playwright-core"];

export async function checkVercelConfig(root = projectRoot): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const parsed = vercelConfigSchema.safeParse(readVercelJson(root));
  if (!parsed.success) {
    return [{ check: "vercel.json", ok: false, detail: z.prettifyError(parsed.error) }];
  }
  const config = parsed.data;
  const files = discoverFunctions(root).map((fn) => relative(root, fn.file));
  for (const glob of Object.keys(config.functions)) {
    const matched = files.filter((file) => picomatch.isMatch(file, glob));
    results.push({
      check: `vercel.json functions "${glob}"`,
      ok: matched.length > 0,
      detail: matched.length ? `${matched.length} function(s)` : "matches no function",
    });
  }
  for (const fn of functionSettings(config, root)) {
    results.push({
      check: `limits for ${fn.source}`,
      ok: fn.globs.length === 1,
      detail:
        fn.globs.length === 0
          ? "no functions entry sets its maxDuration and memory"
          : fn.globs.length > 1
            ? `more than one functions entry sets them: ${fn.globs.join(", ")}`
            : (fn.globs[0] as string),
    });
  }
  const router = createRouter(root);
  for (const rewrite of config.rewrites) {
    const destination = new RegExp(
      `^${(rewrite.destination.split("?")[0] ?? "").replace(/:\w+/g, "[^/]+")}$`,
    );
    const reached = discoverFunctions(root).filter((fn) => destination.test(fn.pattern));
    results.push({
      check: `rewrite ${rewrite.source}`,
      ok: reached.length > 0,
      detail: reached.length
        ? reached.map((fn) => relative(root, fn.file)).join(", ")
        : `${rewrite.destination} reaches no function`,
    });
  }
  for (const path of await requiredPaths()) {
    const file = router.fileFor(path);
    results.push({
      check: `route ${path}`,
      ok: Boolean(file),
      detail: file ? relative(root, file) : "reaches no function",
    });
  }
  return results;
}

/** The paths every deployment must serve: schedules, workers, webhooks and callbacks. */
async function requiredPaths(): Promise<string[]> {
  const { schedules } = await import("../lib/schedules");
  const { agentWorkerPath, taskWebhookPath } = await import("../lib/tasks/dispatch");
  const { scrapeWorkerPath, scrapeWebhookPath } = await import("../lib/scrape/jobs");
  const { emailWorkerPath } = await import("../lib/email/queueing");
  const { calendarWorkerPath } = await import("../lib/booking/reminders");
  const { calendarWebhookPath } = await import("../lib/booking/channels");
  return [
    ...new Set([
      ...schedules.map((schedule) => schedule.path),
      agentWorkerPath,
      taskWebhookPath,
      scrapeWorkerPath,
      scrapeWebhookPath,
      emailWorkerPath,
      "/webhook/email",
      calendarWorkerPath,
      calendarWebhookPath,
    ]),
  ];
}

/** The project files and packages a bundle was made of, from its source maps. */
function bundleSources(dir: string, root: string): string[] {
  const sources = new Set<string>();
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".mjs.map") || entry.parentPath.includes("node_modules")) {
      continue;
    }
    const map = JSON.parse(readFileSync(join(entry.parentPath, entry.name), "utf8")) as { sources: string[] };
    for (const source of map.sources) {
      // esbuild percent-encodes the brackets of `[user_id].ts` in a source map's paths.
      sources.add(relative(root, resolve(entry.parentPath, decodeURIComponent(source))));
    }
  }
  return [...sources];
}

/** Every `.mjs` of a function that is its own code (not a copied package). */
function bundleFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter(
      (entry) => entry.isFile() && entry.name.endsWith(".mjs") && !entry.parentPath.includes("node_modules"),
    )
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The checks on `npm run build`'s output against vercel.json, the sources and the local router. */
export async function checkOutput(root = projectRoot, outDir = defaultOutDir(root)): Promise<CheckResult[]> {
  const configFile = join(outDir, "config.json");
  if (!existsSync(configFile)) {
    return [
      {
        check: "build output",
        ok: false,
        detail: `${relative(root, outDir)} has no config.json: run npm run build first`,
      },
    ];
  }
  const results: CheckResult[] = [];
  const vercel = loadVercelConfig(root);
  const output = JSON.parse(readFileSync(configFile, "utf8")) as OutputConfig;
  const expectedRoutes = outputRoutes(vercel, root);
  results.push({
    check: "output config.json",
    ok:
      output.version === 3 &&
      isDeepStrictEqual(output.routes, expectedRoutes) &&
      isDeepStrictEqual(output.crons, vercel.crons),
    detail:
      output.version !== 3
        ? `version ${output.version}, not 3`
        : !isDeepStrictEqual(output.routes, expectedRoutes)
          ? "its routes are not the ones vercel.json and api/ give: rebuild"
          : !isDeepStrictEqual(output.crons, vercel.crons)
            ? "its crons are not vercel.json's"
            : `version 3, ${output.routes.length} routes${output.crons ? `, ${output.crons.length} crons` : ""}`,
  });

  const settings = functionSettings(vercel, root);
  const built = new Map(listOutputFunctions(outDir).map((fn) => [fn.name, fn.dir]));
  const expectedNames = new Set(settings.map((fn) => functionName(fn.source)));
  for (const name of built.keys()) {
    if (!expectedNames.has(name)) {
      results.push({
        check: `function ${name}`,
        ok: false,
        detail: "in the output but not under api/: rebuild",
      });
    }
  }
  const devPackages = Object.keys(
    (
      JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
        devDependencies?: Record<string, string>;
      }
    ).devDependencies ?? {},
  );
  for (const fn of settings) {
    const name = functionName(fn.source);
    const dir = built.get(name);
    if (!dir) {
      results.push({ check: `function ${name}`, ok: false, detail: "missing from the output: rebuild" });
      continue;
    }
    const problems: string[] = [];
    const vcFile = join(dir, ".vc-config.json");
    const vc = existsSync(vcFile) ? (JSON.parse(readFileSync(vcFile, "utf8")) as Partial<VcConfig>) : {};
    if (vc.runtime !== functionRuntime || vc.launcherType !== "Nodejs" || vc.handler !== "index.mjs") {
      problems.push(
        `.vc-config.json runtime/handler ${vc.runtime}/${vc.handler}, not ${functionRuntime}/index.mjs`,
      );
    }
    if (vc.maxDuration !== fn.maxDuration || vc.memory !== fn.memory) {
      problems.push(
        `.vc-config.json says ${vc.maxDuration} s / ${vc.memory} MB, vercel.json ${fn.maxDuration} s / ${fn.memory} MB`,
      );
    }
    if (!existsSync(join(dir, "index.mjs"))) {
      problems.push("no index.mjs");
    }
    const { bytes, files } = directorySize(dir);
    const budget = Math.min(budgetBytes(name), hardLimitBytes);
    if (bytes > budget) {
      problems.push(`over its ${budget / 1e6} MB budget`);
    }
    const code = bundleFiles(dir).map((file) => readFileSync(file, "utf8"));
    const browser = browserPackages.filter(
      (pkg) => existsSync(join(dir, "node_modules", pkg)) || code.some((text) => text.includes(`"${pkg}"`)),
    );
    if (name === "api/workers/scrape") {
      if (
        browser.length < browserPackages.length ||
        !existsSync(join(dir, "node_modules", "@sparticuz", "chromium", "bin"))
      ) {
        problems.push("is missing the browser");
      }
    } else if (browser.length) {
      problems.push(`carries ${browser.join(", ")}`);
    }
    const sources = bundleSources(dir, root);
    const devCode = sources.filter(
      (source) =>
        /^(dev|test|bench)\//.test(source) ||
        devPackages.some((pkg) => source.includes(`node_modules/${pkg}/`)),
    );
    if (devCode.length) {
      problems.push(`bundles dev or test code: ${devCode.slice(0, 5).join(", ")}`);
    }
    if (!sources.includes(fn.source)) {
      problems.push(`its source maps do not name ${fn.source}`);
    }
    results.push({
      check: `function ${name}`,
      ok: problems.length === 0,
      detail: `${(bytes / 1e6).toFixed(1)} MB in ${files} files, ${vc.memory} MB, ${vc.maxDuration} s${problems.length ? `: ${problems.join("; ")}` : ""}`,
    });
  }

  // The router the dev server and the tests use, and the routes the deployment gets, agree.
  const router = createRouter(root);
  const samples = [
    ...discoverFunctions(root).map(
      (fn) => probePath(functionName(relative(root, fn.file))).split("?")[0] as string,
    ),
    ...vercel.rewrites.map((rewrite) => rewrite.source.replace(/:(\w+)\*?/g, "sample")),
    ...(await requiredPaths()),
    "/",
    "/nothing-here",
    "/api/no/such/function",
  ];
  const names = new Set(built.keys());
  const disagreements = samples.filter((path) => {
    const local = router.fileFor(path);
    const deployed = resolveOutputRoute(output.routes, names, path)?.name;
    return (local ? functionName(relative(root, local)) : undefined) !== deployed;
  });
  results.push({
    check: "router URLs = output routes",
    ok: disagreements.length === 0,
    detail: disagreements.length
      ? disagreements
          .map((path) => {
            const local = router.fileFor(path);
            return `${path}: router ${local ? relative(root, local) : "404"}, output ${resolveOutputRoute(output.routes, names, path)?.name ?? "404"}`;
          })
          .join("; ")
      : `${samples.length} URLs reach the same function`,
  });
  return results;
}

export async function checkMigrations(): Promise<CheckResult[]> {
  const { applyMigrations, listMigrations } = await import("./db/migrate");
  const { rowsOf, connectPostgres } = await import("../lib/db/client");
  const { sql } = await import("drizzle-orm");
  const adminUrl = process.env.DATABASE_URL;
  let dataDir: string | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;
  let engine: Awaited<ReturnType<typeof connectPostgres>>;
  if (adminUrl) {
    const postgres = (await import("postgres")).default;
    const name = `check_deploy_${randomBytes(4).toString("hex")}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    engine = await connectPostgres(url.toString(), 2);
    dropDatabase = async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    };
  } else {
    dataDir = mkdtempSync(join(tmpdir(), "check-deploy-pglite-"));
    const { openPglite } = await import("./db/pglite");
    engine = await openPglite(dataDir);
  }
  try {
    const applied = await applyMigrations(engine);
    const expected = listMigrations().map((migration) => migration.version);
    const exposed = rowsOf<{ table_name: string }>(
      await engine.db.execute(sql`
        select c.relname as table_name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity`),
    );
    return [
      {
        check: `migrations from zero (${adminUrl ? "PostgreSQL" : "PGlite"})`,
        ok: applied.join() === expected.join(),
        detail: `${applied.length} of ${expected.length} applied`,
      },
      {
        check: "row-level security on every public table",
        ok: exposed.length === 0,
        detail: exposed.length ? `without RLS: ${exposed.map((t) => t.table_name).join(", ")}` : "all on",
      },
    ];
  } catch (error) {
    return [{ check: "migrations from zero", ok: false, detail: String(error) }];
  } finally {
    await engine.close();
    await dropDatabase?.();
    if (dataDir) {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

export async function checkEnvExample(root = projectRoot): Promise<CheckResult[]> {
  const { configKeys } = await import("../lib/config");
  const documented = new Set(
    [...readFileSync(join(root, ".env.example"), "utf8").matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map(
      (match) => match[1],
    ),
  );
  const missing = configKeys.filter((key) => !documented.has(key));
  const known = new Set<string>(configKeys);
  const unknown = [...documented].filter((key) => key && !known.has(key));
  return [
    {
      check: ".env.example covers the config schema",
      ok: missing.length === 0 && unknown.length === 0,
      detail:
        missing.length || unknown.length
          ? [
              missing.length ? `missing ${missing.join(", ")}` : "",
              unknown.length ? `unknown ${unknown.join(", ")}` : "",
            ]
              .filter(Boolean)
              .join("; ")
          : `${configKeys.length} variables`,
    },
  ];
}

export async function checkDeploy(options: { output?: boolean } = {}): Promise<CheckResult[]> {
  return [
    ...(await checkVercelConfig()),
    ...(options.output === false ? [] : await checkOutput()),
    ...(await checkMigrations()),
    ...(await checkEnvExample()),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await checkDeploy();
  for (const result of results) {
    console.log(`${result.ok ? "✔" : "✘"} ${result.check}: ${result.detail}`);
  }
  const failed = results.filter((result) => !result.ok);
  console.log(failed.length ? `\n${failed.length} check(s) failed` : `\nall ${results.length} checks passed`);
  process.exit(failed.length ? 1 : 0);
}
