/**
 * Load figures against the local stack on 127.0.0.1 (the dev server: the production functions behind
 * the router, the real database engine, Redis, the QStash broker):
 *  - webhook ingest: signed /webhook/task events per second, each verified, deduplicated and
 *    applied, against the raw single-row insert rate of the same database in the same run;
 *  - the query endpoints under 50 concurrent sessions with 1M rows in the biggest table;
 *  - a soak at steady mixed load: errors, and memory at start and end.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { mintSessionToken } from "../dev/auth";
import type { DevSecrets } from "../dev/env";
import { percentile, round } from "./stats";

const mb = (bytes: number) => round(bytes / 1e6);

/** Runs `worker` from `concurrency` loops until `total` calls were made; returns the wall time. */
async function pool(
  total: number,
  concurrency: number,
  worker: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        await worker(i);
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/** One task event to /webhook/task, signed as the database trigger signs it. */
function postTaskEvent(baseUrl: string, signer: Webhook, data: Record<string, unknown>): Promise<Response> {
  const body = JSON.stringify({ type: "task.progress", data });
  const id = `msg_${randomUUID()}`;
  const at = new Date();
  return fetch(`${baseUrl}/webhook/task`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": signer.sign(id, at, body),
    },
    body,
  });
}

export interface LoadOptions {
  quick: boolean;
  secrets: DevSecrets;
  soakSeconds: number;
}

export async function benchLoad(options: LoadOptions) {
  const { quick, secrets } = options;
  const dataDir = process.env.DATABASE_URL ? undefined : mkdtempSync(join(tmpdir(), "aat-load-"));
  if (dataDir) {
    process.env.PGLITE_DATA_DIR = dataDir;
  }
  process.env.AGENT_RATE_LIMIT_PER_MINUTE = "1000000";
  const { startDevServer } = await import("../dev/server");
  const dev = await startDevServer({ port: 0, secrets, seed: false });
  const { serviceDb } = await import("../lib/db/service");
  const schema = await import("../lib/db/schema");
  const { getEngine } = await import("../lib/db/client");
  const driver = (await getEngine()).driver;
  const db = await serviceDb();
  try {
    // --- webhook ingest --------------------------------------------------------------------------
    const user = randomUUID();
    await db.execute(sql`insert into auth.users (id, email) values (${user}, 'load@bench.test')`);
    const tasks = await db
      .insert(schema.agentTasks)
      .values(
        Array.from({ length: 50 }, () => ({
          workspace_id: user,
          user_id: user,
          agent_name: "engineer" as const,
          status: "processing" as const,
          input: { user_id: user, prompt: "load" },
        })),
      )
      .returning({ id: schema.agentTasks.id });
    const events = quick ? 1000 : 5000;
    const concurrency = 50;
    const signer = new Webhook(secrets.taskWebhookSecret);
    let ingestErrors = 0;
    const ingestSeconds = await pool(events, concurrency, async (i) => {
      const response = await postTaskEvent(dev.url, signer, {
        task_id: tasks[i % tasks.length]?.id,
        progress: i % 100,
        message: `step ${i}`,
      });
      await response.arrayBuffer();
      if (response.status !== 200) {
        ingestErrors += 1;
      }
    });
    const rawSeconds = await pool(events, concurrency, async (i) => {
      await db.insert(schema.webhookEvents).values({
        source: "task",
        event_id: `raw_${randomUUID()}`,
        event_type: "task.progress",
        payload: { task_id: tasks[i % tasks.length]?.id, progress: i % 100, message: `step ${i}` },
        status: "processed",
      });
    });
    const ingest = {
      driver,
      events,
      concurrency,
      events_per_second: round(events / ingestSeconds),
      raw_inserts_per_second: round(events / rawSeconds),
      ratio: round(events / ingestSeconds / (events / rawSeconds), 2),
      errors: ingestErrors,
    };
    console.table([ingest]);

    // --- queries at 1M rows, 50 concurrent sessions ------------------------------------------------
    const rows = quick ? 100_000 : 1_000_000;
    const sessions = 50;
    const users = Array.from({ length: sessions }, () => randomUUID());
    await db.execute(
      sql.raw(
        `insert into auth.users (id, email) values ${users.map((id) => `('${id}', '${id}@load.test')`).join(",")}`,
      ),
    );
    const seedStarted = performance.now();
    const userArray = `array[${users.map((id) => `'${id}'::uuid`).join(",")}]`;
    for (let from = 1; from <= rows; from += 100_000) {
      const to = Math.min(rows, from + 99_999);
      await db.execute(
        sql.raw(
          `insert into public.leads (user_id, name, email, company, score, status, created_at)
           select (${userArray})[1 + g % ${sessions}], 'Lead ' || g, 'lead' || g || '@load.test', 'Company ' || (g % 5000),
                  g % 101, (array['new','contacted','replied'])[1 + g % 3], now() - make_interval(secs => g)
           from generate_series(${from}, ${to}) g`,
        ),
      );
    }
    await db.execute(sql.raw("analyze public.leads"));
    const seedSeconds = round((performance.now() - seedStarted) / 1000);
    const tokens = await Promise.all(
      users.map((id) => mintSessionToken(secrets.auth, process.env.SUPABASE_URL ?? dev.url, id)),
    );
    const queries = [
      (id: string) => `/api/leads/${id}?limit=50`,
      (id: string) => `/api/leads/${id}?limit=50&min_score=80`,
      (id: string) => `/api/leads/${id}?limit=20&status=replied`,
      (id: string) => `/api/tasks/${id}?limit=20`,
      (id: string) => `/api/alerts/${id}?limit=20&read=false`,
    ];
    const perSession = quick ? 20 : 60;
    const latencies: number[] = [];
    let queryErrors = 0;
    const querySeconds = await pool(sessions * perSession, sessions, async (i) => {
      const session = i % sessions;
      const path = (queries[i % queries.length] as (id: string) => string)(users[session] as string);
      const started = performance.now();
      const response = await fetch(`${dev.url}${path}`, {
        headers: { authorization: `Bearer ${tokens[session]}` },
      });
      await response.arrayBuffer();
      latencies.push(performance.now() - started);
      if (response.status !== 200) {
        queryErrors += 1;
      }
    });
    const queryFigures = {
      driver,
      rows_in_leads: rows,
      seed_seconds: seedSeconds,
      sessions,
      requests: latencies.length,
      requests_per_second: round(latencies.length / querySeconds),
      p50_ms: round(percentile(latencies, 50), 1),
      p95_ms: round(percentile(latencies, 95), 1),
      p99_ms: round(percentile(latencies, 99), 1),
      errors: queryErrors,
    };
    console.table([queryFigures]);

    // --- soak --------------------------------------------------------------------------------------
    global.gc?.();
    const memoryStart = process.memoryUsage();
    const soakUntil = Date.now() + options.soakSeconds * 1000;
    const perSecond = 40;
    let soakRequests = 0;
    let soakErrors = 0;
    const statuses = new Map<number, number>();
    while (Date.now() < soakUntil) {
      const tick = Date.now();
      await Promise.all(
        Array.from({ length: perSecond }, async (_, n) => {
          const session = (soakRequests + n) % sessions;
          let response: Response;
          if (n % 4 === 0) {
            response = await postTaskEvent(dev.url, signer, {
              task_id: tasks[n % tasks.length]?.id,
              progress: n,
              message: "soak",
            });
          } else {
            const path = (queries[n % queries.length] as (id: string) => string)(users[session] as string);
            response = await fetch(`${dev.url}${path}`, {
              headers: { authorization: `Bearer ${tokens[session]}` },
            });
          }
          await response.arrayBuffer();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status >= 400) {
            soakErrors += 1;
          }
        }),
      );
      soakRequests += perSecond;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (Date.now() - tick))));
    }
    global.gc?.();
    const memoryEnd = process.memoryUsage();
    const soak = {
      seconds: options.soakSeconds,
      requests_per_second: perSecond,
      requests: soakRequests,
      errors: soakErrors,
      statuses: Object.fromEntries(statuses),
      rss_start_mb: mb(memoryStart.rss),
      rss_end_mb: mb(memoryEnd.rss),
      heap_start_mb: mb(memoryStart.heapUsed),
      heap_end_mb: mb(memoryEnd.heapUsed),
    };
    console.table([{ ...soak, statuses: JSON.stringify(soak.statuses) }]);
    return { ingest, queries: queryFigures, soak };
  } finally {
    await dev.close();
    if (dataDir) {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}
