/**
 * `npm run check:deploy`: what a deployment needs that no unit test sees.
 *  - vercel.json: valid limits; every functions glob matches a function and every function has
 *    limits; every rewrite, schedule, worker and callback path reaches a function.
 *  - bundles: each function's traced files (what Vercel ships) under its budget (250 MB is Vercel's
 *    hard limit); Chromium and its driver only in the scrape worker.
 *  - migrations: all of them apply from zero on a fresh database (PGlite, or a new database on
 *    DATABASE_URL's server), with row-level security on every table.
 *  - .env.example names every variable the config schema reads.
 * Exits non-zero naming each failure.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import picomatch from "picomatch";
import { z } from "zod";
import { projectRoot } from "./env";
import { buildFunctions, traceFunction } from "./functions";
import { createRouter, discoverFunctions } from "./router";

export interface CheckResult {
  check: string;
  ok: boolean;
  detail: string;
}

const vercelConfig = z.object({
  rewrites: z.array(
    z.object({ source: z.string().startsWith("/"), destination: z.string().startsWith("/") }),
  ),
  functions: z.record(
    z.string(),
    z.object({ maxDuration: z.int().min(1).max(800), memory: z.int().min(128).max(3009) }).strict(),
  ),
});

/** Vercel's hard limit on a function's uncompressed bundle. */
const hardLimitBytes = 250 * 1e6;
/** Our own budget: only the scrape worker carries a browser. */
const budgetBytes = (fn: string) => (fn === "api/workers/scrape.ts" ? hardLimitBytes : 40 * 1e6);
const browserPackages = ["@sparticuz/chromium", "playwright-core"];

export async function checkVercelConfig(root = projectRoot): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const parsed = vercelConfig.safeParse(JSON.parse(readFileSync(join(root, "vercel.json"), "utf8")));
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
  for (const file of files) {
    const globs = Object.keys(config.functions).filter((glob) => picomatch.isMatch(file, glob));
    results.push({
      check: `limits for ${file}`,
      ok: globs.length > 0,
      detail: globs.length ? globs.join(", ") : "no functions entry sets its maxDuration and memory",
    });
  }
  const router = createRouter(root);
  const { schedules } = await import("../lib/schedules");
  const { agentWorkerPath, taskWebhookPath } = await import("../lib/tasks/dispatch");
  const { scrapeWorkerPath, scrapeWebhookPath } = await import("../lib/scrape/jobs");
  const { emailWorkerPath } = await import("../lib/email/queueing");
  const { calendarWorkerPath } = await import("../lib/booking/reminders");
  const { calendarWebhookPath } = await import("../lib/booking/channels");
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
  const paths = [
    ...schedules.map((schedule) => schedule.path),
    agentWorkerPath,
    taskWebhookPath,
    scrapeWorkerPath,
    scrapeWebhookPath,
    emailWorkerPath,
    "/webhook/email",
    calendarWorkerPath,
    calendarWebhookPath,
  ];
  for (const path of new Set(paths)) {
    const file = router.fileFor(path);
    results.push({
      check: `route ${path}`,
      ok: Boolean(file),
      detail: file ? relative(root, file) : "reaches no function",
    });
  }
  return results;
}

export async function checkBundles(root = projectRoot): Promise<CheckResult[]> {
  // Inside the project, so the trace finds node_modules as Vercel's build does.
  const outDir = join(root, ".data", "check-deploy");
  try {
    const results: CheckResult[] = [];
    for (const fn of await buildFunctions(outDir, root)) {
      const trace = await traceFunction(fn.file, root);
      const browser = trace.packages.filter(([name]) => browserPackages.includes(name)).map(([name]) => name);
      const budget = budgetBytes(fn.name);
      const problems = [
        ...(trace.bytes > budget ? [`over its ${budget / 1e6} MB budget`] : []),
        ...(browser.length && fn.name !== "api/workers/scrape.ts" ? [`carries ${browser.join(", ")}`] : []),
        ...(fn.name === "api/workers/scrape.ts" && browser.length < 2 ? ["is missing the browser"] : []),
      ];
      results.push({
        check: `bundle ${fn.name}`,
        ok: problems.length === 0,
        detail: `${(trace.bytes / 1e6).toFixed(1)} MB in ${trace.files} files${problems.length ? `: ${problems.join("; ")}` : ""}`,
      });
    }
    return results;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
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

export async function checkDeploy(options: { bundles?: boolean } = {}): Promise<CheckResult[]> {
  return [
    ...(await checkVercelConfig()),
    ...(options.bundles === false ? [] : await checkBundles()),
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
