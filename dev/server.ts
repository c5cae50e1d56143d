import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { closeDatabase, getEngine } from "../lib/db/client";
import { registerSchedules } from "../lib/schedules";
import { signingSecret } from "../lib/webhooks/standard";
import { authHandler, mintSessionToken } from "./auth";
import { applyMigrations } from "./db/migrate";
import { applyDevEnv, type DevSecrets, loadDevSecrets } from "./env";
import { QStashBroker } from "./qstash-broker";
import { createRouter } from "./router";
import { useLocalEngines } from "./stack";
import { connectThroughConsent, StandInGoogle } from "./stand-ins/google";
import { configureTaskEvents, startTaskRelay } from "./task-relay";

export const demoUserId = "5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10";
/** The demo workspace (Maya's personal workspace, which is the business's) and its second member. */
export const demoWorkspaceId = demoUserId;
export const demoMemberId = "7a1e2c3d-4b5f-4a6e-9c7d-8e9f0a1b2c3d";
export const demoMailbox = "sales@northwind-roasters.com";

export interface DevServerOptions {
  port?: number;
  host?: string;
  secrets?: DevSecrets;
  seed?: boolean;
  /**
   * Maps the delay QStash would wait before a retry (the destination's Retry-After, else its
   * backoff) onto the broker's timers. Default: QStash's own delays.
   */
  retryDelayMs?: (qstashDelayMs: number, retry: number) => number;
  /**
   * A stand-in Google (OAuth, Gmail, Calendar) with the demo workspace connected to it, unless a real
   * OAuth client is configured. Default: when the demo data is seeded.
   */
  standInGoogle?: boolean;
}

export interface DevServer {
  url: string;
  server: Server;
  broker: QStashBroker;
  secrets: DevSecrets;
  google: StandInGoogle | undefined;
  close(): Promise<void>;
}

/**
 * The whole backend in one process: the function router (production URLs), PGlite or DATABASE_URL
 * with migrations applied, embedded Redis or REDIS_URL, the QStash-compatible broker at /__qstash,
 * and the Supabase Auth JWKS at /auth/v1.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const secrets = options.secrets ?? (await loadDevSecrets());
  const host = options.host ?? "127.0.0.1";
  let handle: (request: Request) => Promise<Response> = async () => new Response("starting", { status: 503 });
  const server = createServer(getRequestListener((request) => handle(request)));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 3001, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;
  applyDevEnv(secrets, url);
  const seed = options.seed ?? true;
  const google =
    (options.standInGoogle ?? seed) && !process.env.GOOGLE_OAUTH_CLIENT_ID ? new StandInGoogle() : undefined;
  if (google) {
    await google.start();
    google.mailbox = demoMailbox;
    for (const [key, value] of Object.entries(google.oauthEnv())) {
      process.env[key] = value;
    }
  }

  const closeEngines = await useLocalEngines();
  const engine = await getEngine();
  await applyMigrations(engine, { seed });
  await configureTaskEvents(engine, signingSecret(), `${url}/webhook/task`);

  const broker = new QStashBroker({
    token: secrets.qstashToken,
    currentSigningKey: secrets.qstashCurrentSigningKey,
    ...(options.retryDelayMs ? { retryDelayMs: options.retryDelayMs } : {}),
  });
  const auth = authHandler(secrets.auth);
  const router = createRouter();
  await router.preload();
  const stopRelay = await startTaskRelay(engine, `${url}/webhook/task`);

  handle = async (request) => {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/__qstash/")) {
      return broker.handle(request, path.slice("/__qstash".length));
    }
    if (path.startsWith("/auth/v1/")) {
      return auth(request, path);
    }
    return router.handle(request);
  };
  if (google) {
    // The demo workspace's Google account, connected through the consent flow as an owner would.
    await connectThroughConsent({
      app: (path, init) => fetch(`${url}${path}`, init),
      appUrl: url,
      google,
      account: google,
      session: await mintSessionToken(secrets.auth, url, demoUserId, { email: "demo@northwind.example" }),
      workspaceId: demoWorkspaceId,
    }).catch((error: unknown) => {
      console.warn(`the demo workspace's stand-in Google account was not connected: ${String(error)}`);
    });
  }
  // The QStash schedules, as `npm run schedules` creates them in production. A process whose
  // configuration already points elsewhere (a test that read it first) keeps running without them.
  await registerSchedules().catch((error: unknown) => {
    console.warn(`schedules not registered with the local broker: ${String(error)}`);
  });

  return {
    url,
    server,
    broker,
    secrets,
    google,
    async close() {
      await stopRelay();
      broker.close();
      await google?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeDatabase();
      await closeEngines();
    },
  };
}

async function main() {
  const dev = await startDevServer({ port: Number(process.env.PORT ?? 3001) });
  const token = await mintSessionToken(dev.secrets.auth, dev.url, demoUserId, {
    email: "demo@northwind.example",
    expiresInSeconds: 7 * 24 * 3600,
  });
  const database = process.env.DATABASE_URL
    ? "PostgreSQL at DATABASE_URL"
    : `PGlite in ${process.env.PGLITE_DATA_DIR}`;
  const redis = process.env.REDIS_URL ? "Redis at REDIS_URL" : "embedded in-memory engine";
  const models = process.env.LLM_BASE_URL
    ? `OpenAI-compatible server at ${process.env.LLM_BASE_URL}`
    : process.env.OPENROUTER_API_KEY
      ? "OpenRouter"
      : "none configured: agent endpoints answer 503 (set OPENROUTER_API_KEY or LLM_BASE_URL)";
  console.log(`
AI Agent Team backend on ${dev.url}

  health        ${dev.url}/api/health
  API docs      ${dev.url}/docs
  OpenAPI       ${dev.url}/openapi.json
  database      ${database}
  redis         ${redis}
  models        ${models}
  qstash        local broker at ${dev.url}/__qstash (DLQ: GET /__qstash/v2/dlq)
  google        ${dev.google ? `stand-in Google (OAuth, Gmail, Calendar); the demo workspace sends as ${demoMailbox}` : "the OAuth client configured in GOOGLE_OAUTH_CLIENT_ID"}
  auth (JWKS)   ${dev.url}/auth/v1/.well-known/jwks.json
  task events   pg_notify('task_events') relayed to ${dev.url}/webhook/task

Dev session for Maya, owner of the demo workspace "Northwind Roasters" (${demoWorkspaceId}),
valid 7 days; Leo (${demoMemberId}) is its member: npm run token -- ${demoMemberId}

  export TOKEN=${token}
  curl -H "Authorization: Bearer $TOKEN" ${dev.url}/api/workspaces
  curl -H "Authorization: Bearer $TOKEN" ${dev.url}/api/leads/${demoUserId}
`);
  const stop = async () => {
    await dev.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
