/**
 * Load figures against the local stack on 127.0.0.1 (the dev server: the production functions behind
 * the router, the real database engine, Redis, the QStash broker):
 *  - webhook ingest: signed /webhook/task events per second, each verified, deduplicated and
 *    applied, against the raw single-row insert rate of the same database in the same run;
 *  - the query endpoints under 50 concurrent sessions with 1M rows in the biggest table;
 *  - a soak at steady mixed load: errors, and memory at start and end.
 */
import { createHmac, createSecretKey, type KeyObject, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
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

/**
 * Signs as the database trigger does (Standard Webhooks, v1 HMAC-SHA256), with Node's HMAC and the
 * key imported once: the client shares the process and its two cores with the server it measures,
 * and the reference library's pure-JavaScript SHA-256 costs it more CPU per event than the server's
 * own verification.
 */
function taskEventSigner(secret: string): (id: string, seconds: number, body: string) => string {
  const key: KeyObject = createSecretKey(Buffer.from(secret.replace(/^whsec_/, ""), "base64"));
  return (id, seconds, body) =>
    `v1,${createHmac("sha256", key).update(`${id}.${seconds}.${body}`).digest("base64")}`;
}
type Signer = ReturnType<typeof taskEventSigner>;

/**
 * Posts task events to /webhook/task as the database trigger signs them, over kept-alive node:http
 * connections rather than fetch: fetch costs the shared process about 0.3 ms more CPU per request,
 * which the ingest figure would otherwise count against the server. Resolves to the status, the
 * answer read to its end.
 */
function taskEventPoster(baseUrl: string, sign: Signer) {
  const { hostname, port } = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true });
  const post = (data: Record<string, unknown>): Promise<number> => {
    const body = JSON.stringify({ type: "task.progress", data });
    const id = `msg_${randomUUID()}`;
    const seconds = Math.floor(Date.now() / 1000);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: hostname,
          port,
          path: "/webhook/task",
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            "webhook-id": id,
            "webhook-timestamp": String(seconds),
            "webhook-signature": sign(id, seconds, body),
          },
        },
        (res) => {
          res.on("error", reject);
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.resume();
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  };
  return { post, close: () => agent.destroy() };
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
  // Without the local Realtime: its change capture (a trigger whose NOTIFY serialises commits) is a
  // cost of the stand-in that production's database does not carry (hosted Realtime reads the WAL).
  const dev = await startDevServer({ port: 0, secrets, seed: false, realtime: false });
  const { serviceDb } = await import("../lib/db/service");
  const schema = await import("../lib/db/schema");
  const { getEngine } = await import("../lib/db/client");
  const driver = (await getEngine()).driver;
  const db = await serviceDb();
  const poster = taskEventPoster(dev.url, taskEventSigner(secrets.taskWebhookSecret));
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
    let ingestErrors = 0;
    const ingestSeconds = await pool(events, concurrency, async (i) => {
      const status = await poster.post({
        task_id: tasks[i % tasks.length]?.id,
        progress: i % 100,
        message: `step ${i}`,
      });
      if (status !== 200) {
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
          let status: number;
          if (n % 4 === 0) {
            status = await poster.post({
              task_id: tasks[n % tasks.length]?.id,
              progress: n,
              message: "soak",
            });
          } else {
            const path = (queries[n % queries.length] as (id: string) => string)(users[session] as string);
            const response = await fetch(`${dev.url}${path}`, {
              headers: { authorization: `Bearer ${tokens[session]}` },
            });
            await response.arrayBuffer();
            status = response.status;
          }
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status >= 400) {
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
    poster.close();
    await dev.close();
    if (dataDir) {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}
