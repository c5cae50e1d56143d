/**
 * npm run bench: figures that tests must not assert.
 *  - per function, as deployed (npm run build's output): cold start from process spawn to its
 *    handler's answer, against a trivial handler (the floor), and its size (bench/cold-start.ts);
 *  - the query endpoints' latency with 100k rows in each queried table, the model cache, and model
 *    spend under concurrency against a small budget (bench/budget.ts);
 *  - scrape politeness efficiency: N sites × M pages against the politeness floor (bench/scrape.ts);
 *  - email pacing over a simulated week, and planning over a simulated month (bench/pacing.ts);
 *  - the frontend's path on the local Supabase: sign-in, REST against the API, Realtime fan-out
 *    (bench/supabase.ts);
 *  - load on 127.0.0.1: webhook ingest against raw inserts, queries under 50 sessions at 1M rows,
 *    a soak (bench/load.ts; `--soak=SECONDS`, default 600, 30 with --quick).
 * Prints a table and writes bench/results.json. With DATABASE_URL it works in a database of its own on
 * that server and drops it (bench/database.ts); it never writes into one it did not create.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRequestListener } from "@hono/node-server";
import { sql } from "drizzle-orm";
import { authHandler, mintSessionToken } from "../dev/auth";
import { applyMigrations } from "../dev/db/migrate";
import { applyDevEnv, generateSecrets } from "../dev/env";
import type { StandInModel } from "../test/stand-ins/openrouter";
import { benchBudget } from "./budget";
import { benchColdStart } from "./cold-start";
import { benchDatabase, ForeignDatabaseError } from "./database";
import { benchLoad } from "./load";
import { benchMonth, benchPacing } from "./pacing";
import { benchScrape, startBenchSites } from "./scrape";
import { percentile, round } from "./stats";
import { benchSupabase } from "./supabase";

const root = join(import.meta.dirname, "..");
const outDir = join(root, "bench", ".build");
const quick = process.argv.includes("--quick");
const rowsPerTable = quick ? 10_000 : 100_000;
const sections = ["functions", "queries", "scrape", "pacing", "toon", "supabase", "load"];

interface LatencyFigures {
  endpoint: string;
  case: string;
  requests: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

/** The stand-in model main() starts, for the sections that call a model. */
let standInModel: StandInModel | undefined;

async function benchQueries() {
  const { useLocalEngines } = await import("../dev/stack");
  const closeEngines = await useLocalEngines();
  const { getEngine, closeDatabase } = await import("../lib/db/client");
  const engine = await getEngine();
  await applyMigrations(engine);
  const db = engine.db;

  // 100 users; the one we query owns 20% of each table, the rest is spread across the others.
  const users = Array.from({ length: 100 }, () => randomUUID());
  const heavy = users[0] as string;
  await db.execute(
    sql.raw(
      `insert into auth.users (id, email) values ${users.map((id) => `('${id}', '${id}@bench.test')`).join(",")}`,
    ),
  );
  const owner = (g: string) =>
    `case when ${g} % 5 = 0 then '${heavy}'::uuid else (array[${users
      .slice(1)
      .map((id) => `'${id}'::uuid`)
      .join(",")}])[1 + ${g} % 99] end`;
  const at = "now() - make_interval(secs => g)";
  const seedStarted = performance.now();
  const statements = [
    `insert into public.agent_tasks (user_id, agent_name, status, input, created_at) select ${owner("g")}, (array['product-manager','engineer','finance-manager'])[1 + g % 3], (array['completed','failed','queued','processing'])[1 + g % 4], jsonb_build_object('prompt', 'task ' || g), ${at} from generate_series(1, ${rowsPerTable}) g`,
    `insert into public.leads (user_id, name, email, company, score, status, created_at) select ${owner("g")}, 'Lead ' || g, 'lead' || g || '@bench.test', 'Company ' || g, g % 101, (array['new','contacted','replied'])[1 + g % 3], ${at} from generate_series(1, ${rowsPerTable}) g`,
    `insert into public.product_insights (user_id, title, content, tags, priority, created_at) select ${owner("g")}, 'Insight ' || g, 'Body ' || g, array['tag' || (g % 10)], (array['low','medium','high'])[1 + g % 3], ${at} from generate_series(1, ${rowsPerTable}) g`,
    `insert into public.campaigns (user_id, name, channel, status, created_at) select ${owner("g")}, 'Campaign ' || g, (array['email','linkedin'])[1 + g % 2], (array['draft','active'])[1 + g % 2], ${at} from generate_series(1, ${rowsPerTable}) g`,
    `insert into public.alerts (user_id, type, severity, message, read, created_at) select ${owner("g")}, 'task.completed', 'info', 'Alert ' || g, g % 2 = 0, ${at} from generate_series(1, ${rowsPerTable}) g`,
    "analyze",
  ];
  for (const statement of statements) {
    await db.execute(sql.raw(statement));
  }
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  console.log(
    `seeded ${rowsPerTable} rows in each of 5 tables in ${round(seedSeconds)} s (${engine.driver})`,
  );

  const token = await mintSessionToken(
    JSON.parse(process.env.BENCH_AUTH_KEYS ?? "{}"),
    process.env.SUPABASE_URL ?? "",
    heavy,
  );
  const endpoints = ["tasks", "leads", "insights", "campaigns", "alerts"];
  const filters: Record<string, string> = {
    tasks: "status=failed",
    leads: "min_score=80",
    insights: "tag=tag3",
    campaigns: "channel=linkedin",
    alerts: "read=false",
  };
  const iterations = quick ? 30 : 200;
  const latencies: LatencyFigures[] = [];
  for (const name of endpoints) {
    const fn = await import(join(root, "api", name, "[user_id].ts"));
    const get = async (query: string) => {
      const response: Response = await fn.GET(
        new Request(`http://bench.test/api/${name}/${heavy}?${query}`, {
          headers: { authorization: `Bearer ${token}` },
        }),
      );
      if (response.status !== 200) {
        throw new Error(`${name}?${query}: ${response.status} ${await response.text()}`);
      }
      return (await response.json()) as { next_cursor: string | null };
    };
    // A cursor ten pages deep, to show keyset pages cost the same wherever they are.
    let deep = "";
    for (let i = 0; i < 10; i++) {
      deep = (await get(`limit=50${deep ? `&cursor=${deep}` : ""}`)).next_cursor ?? "";
    }
    for (const [label, query] of [
      ["first page (50)", "limit=50"],
      ["page 11 (cursor)", `limit=50&cursor=${deep}`],
      ["filtered", `limit=50&${filters[name]}`],
    ] as const) {
      await get(query);
      const samples: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const started = performance.now();
        await get(query);
        samples.push(performance.now() - started);
      }
      latencies.push({
        endpoint: `GET /api/${name}/{user_id}`,
        case: label,
        requests: iterations,
        p50_ms: round(percentile(samples, 50), 2),
        p95_ms: round(percentile(samples, 95), 2),
        p99_ms: round(percentile(samples, 99), 2),
      });
    }
  }
  const cache = await benchLlmCache(heavy);
  const budget = standInModel
    ? await benchBudget(users[1] as string, standInModel, quick ? 10 : 20)
    : undefined;
  await closeDatabase();
  await closeEngines();
  return { driver: engine.driver, rowsPerTable, latencies, cache, budget };
}

/** A model call answered by the stand-in model (loopback) against the same call served from the cache. */
async function benchLlmCache(userId: string) {
  const { completeStructured } = await import("../lib/llm/complete");
  const { z } = await import("zod");
  const request = (n: number) => ({
    agent: "engineer" as const,
    // The personal workspace, whose id is its owner's.
    workspaceId: userId,
    userId,
    schema: z.object({ response: z.string() }),
    schemaName: "bench_answer",
    messages: [{ role: "user" as const, content: `Question ${n}` }],
  });
  const iterations = quick ? 30 : 200;
  const miss: number[] = [];
  const hit: number[] = [];
  for (let i = 0; i < iterations; i++) {
    let started = performance.now();
    await completeStructured(request(i));
    miss.push(performance.now() - started);
    started = performance.now();
    const again = await completeStructured(request(i));
    hit.push(performance.now() - started);
    if (!again.usage.cached) {
      throw new Error("expected a cache hit");
    }
  }
  return {
    requests: iterations,
    model_call_p50_ms: round(percentile(miss, 50), 2),
    model_call_p95_ms: round(percentile(miss, 95), 2),
    cache_hit_p50_ms: round(percentile(hit, 50), 2),
    cache_hit_p95_ms: round(percentile(hit, 95), 2),
  };
}

async function benchToon() {
  const { encodeContext } = await import("../lib/toon");
  const { leadsContext, nestedContext, tasksContext } = await import("../test/support/contexts");
  const cases = [
    ["50 leads", leadsContext(50)],
    ["500 leads", leadsContext(500)],
    ["20 earlier tasks", tasksContext(20)],
    ["nested business profile", nestedContext()],
  ] as const;
  const rows = [];
  for (const [name, context] of cases) {
    const { text: _, ...figures } = await encodeContext(context);
    rows.push({ context: name, ...figures });
  }
  return rows;
}

async function main() {
  // First, before anything reads the configuration: a database of the bench's own, or a refusal.
  const database = await benchDatabase(process.env.DATABASE_URL);
  if (database.url) {
    process.env.DATABASE_URL = database.url;
    console.log(
      database.created
        ? `bench: a database of its own on DATABASE_URL's server, ${new URL(database.url).pathname.slice(1)} (dropped at the end)`
        : "bench: DATABASE_URL names an empty database; the bench uses it",
    );
  }
  try {
    await runSections();
  } finally {
    await (await import("../lib/db/client")).closeDatabase();
    await database.drop();
  }
}

async function runSections() {
  const secrets = await generateSecrets();
  const { StandInModel } = await import("../test/stand-ins/openrouter");
  const standIn = new StandInModel(() => ({ content: { response: "An answer from the stand-in model." } }));
  const llmUrl = await standIn.start();
  standInModel = standIn;
  const auth = authHandler(secrets.auth);
  const server = createServer(getRequestListener((request) => auth(request, new URL(request.url).pathname)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const authUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pgliteDir = mkdtempSync(join(tmpdir(), "aat-bench-"));
  const scrapeSites = quick ? 2 : 4;
  const scrapePages = quick ? 2 : 4;
  const sites = await startBenchSites(scrapeSites, scrapePages);
  Object.assign(process.env, {
    SCRAPE_ALLOW_HOSTS: sites.allowHosts,
    TMPDIR: process.env.TMPDIR ?? "/tmp",
    NODE_ENV: "development",
    LOG_LEVEL: "silent",
    APP_URL: "http://bench.test",
    PGLITE_DATA_DIR: process.env.DATABASE_URL ? "" : pgliteDir,
    BENCH_AUTH_KEYS: JSON.stringify(secrets.auth),
    LLM_BASE_URL: llmUrl,
    LLM_API_KEY: "bench",
  });
  // Every other variable as the dev stack sets it: this run's secrets, Auth at the stand-in.
  applyDevEnv(secrets, authUrl);

  const onlyArg = process.argv.find((arg) => arg.startsWith("--only="));
  const only = new Set(onlyArg ? onlyArg.slice("--only=".length).split(",") : sections);
  const results: Record<string, unknown> = {
    generated_at: new Date().toISOString(),
    node: process.version,
    machine: {
      cpus: (await import("node:os")).cpus().length,
      memory_gb: round((await import("node:os")).totalmem() / 1e9),
    },
    database: process.env.DATABASE_URL ? "postgres" : "pglite",
  };

  if (only.has("functions")) {
    const samples = quick ? 3 : 5;
    console.log(
      `functions: npm run build's output, cold start of each as deployed against a trivial handler (median of ${samples} fresh processes)…`,
    );
    const figures = await benchColdStart({ env: { ...process.env }, samples });
    results.functions = figures;
    console.log(`build: ${figures.build_ms} ms; floor (trivial handler): ${figures.floor_ms} ms`);
    console.table(figures.functions);
    console.log("scrape worker, also unpacking its Chromium into an empty TMPDIR:");
    console.table([figures.scrape_worker]);
  }

  if (only.has("queries")) {
    console.log(`queries: seeding ${rowsPerTable} rows per table…`);
    const queries = await benchQueries();
    console.table(queries.latencies);
    console.log("LLM cache (stand-in model on loopback):");
    console.table([queries.cache]);
    console.log("model budget: concurrent ~30 KB calls against a 30,000-token workspace budget:");
    console.table([queries.budget]);
    results.queries = queries;
  }

  if (only.has("scrape")) {
    console.log(`scrape: ${scrapeSites} sites × ${scrapePages} pages in Chromium with the production gaps…`);
    const closeEngines = await (await import("../dev/stack")).useLocalEngines();
    results.scrape = await benchScrape(sites, scrapePages);
    await closeEngines();
    await (await import("../lib/db/client")).closeDatabase();
    console.table([results.scrape]);
  }
  await sites.close();

  if (only.has("pacing")) {
    console.log("email pacing: a simulated week, 10,000 emails over 5 mailboxes…");
    results.pacing = benchPacing();
    console.table([results.pacing]);
    console.log(
      "email planning: a simulated month, 3 mailboxes (one new), 5,000 leads in 8 zones, across DST changes…",
    );
    results.month = await benchMonth();
    console.table([results.month]);
  }

  if (only.has("toon")) {
    results.toon = await benchToon();
    console.log("TOON vs JSON tokens (o200k tokenizer):");
    console.table(results.toon);
  }

  if (only.has("supabase")) {
    if (process.env.DATABASE_URL) {
      console.log("supabase: skipped (it runs on an embedded database of its own; run without DATABASE_URL)");
    } else {
      console.log(
        "the frontend's path on the local Supabase: sign-in, REST against the API, Realtime fan-out…",
      );
      const saved = { APP_URL: process.env.APP_URL, QSTASH_URL: process.env.QSTASH_URL };
      delete process.env.APP_URL;
      delete process.env.QSTASH_URL;
      const figures = await benchSupabase({ quick, secrets });
      Object.assign(process.env, saved);
      results.supabase = figures;
      console.table({
        sign_in: figures.sign_in,
        rest: figures.rest_page_of_leads,
        api: figures.api_page_of_leads,
      });
      console.table([figures.realtime]);
    }
  }

  if (only.has("load")) {
    const soakArg = process.argv.find((arg) => arg.startsWith("--soak="));
    const soakSeconds = soakArg ? Number(soakArg.slice("--soak=".length)) : quick ? 30 : 600;
    console.log(
      `load on 127.0.0.1: webhook ingest vs raw inserts, 50 sessions at ${quick ? "100k" : "1M"} leads, a ${soakSeconds} s soak…`,
    );
    const saved = {
      PGLITE_DATA_DIR: process.env.PGLITE_DATA_DIR,
      APP_URL: process.env.APP_URL,
      QSTASH_URL: process.env.QSTASH_URL,
    };
    // The dev server brings its own URL and QStash broker.
    delete process.env.APP_URL;
    delete process.env.QSTASH_URL;
    results.load = await benchLoad({ quick, secrets, soakSeconds });
    Object.assign(process.env, saved);
  }

  const file = onlyArg ? `results.${[...only].join("-")}.json` : "results.json";
  writeFileSync(join(root, "bench", file), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote bench/${file}`);
  server.close();
  await standIn.close();
  rmSync(pgliteDir, { recursive: true, force: true });
  rmSync(outDir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof ForeignDatabaseError ? error.message : error);
    process.exit(1);
  },
);
