import { rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { getRequestListener } from "@hono/node-server";
import { getConfig } from "../lib/config";
import { closeDatabase, getEngine } from "../lib/db/client";
import { ApiError } from "../lib/http/errors";
import { errorResponse } from "../lib/http/handler";
import { registerSchedules } from "../lib/schedules";
import { signingSecret } from "../lib/webhooks/standard";
import { mintSessionToken } from "./auth";
import { DataDirLockedError, lockDataDir } from "./data-lock";
import { applyMigrations } from "./db/migrate";
import { applyDevEnv, type DevSecrets, dataDir, devServerFile, loadDevSecrets } from "./env";
import { QStashBroker } from "./qstash-broker";
import { createRouter } from "./router";
import { useLocalEngines } from "./stack";
import { connectThroughConsent, StandInGoogle } from "./stand-ins/google";
import { AuthMailer } from "./supabase/auth/mail";
import { localAuth } from "./supabase/auth/server";
import { type AuthSettings, loadAuthSettings } from "./supabase/auth/settings";
import { supabaseGateway } from "./supabase/gateway";
import { installChangeCapture } from "./supabase/realtime/changes";
import { startRealtime } from "./supabase/realtime/server";
import { restHandler } from "./supabase/rest/handler";
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
  /** Abandons start-up (SIGINT during migrations, say): what was opened is closed, and the call rejects. */
  signal?: AbortSignal;
  /** Prints the local Auth's emails (codes and links) to the console, as `npm run dev` does. */
  printAuthMail?: boolean;
  /** Called once the port answers (with the start-up envelope) and before the rest starts. */
  onListening?: (url: string) => Promise<void> | void;
  /** Overrides of supabase/config.toml's [auth] settings (a test of an edge the defaults hide). */
  authSettings?: Partial<AuthSettings>;
  /**
   * The local Realtime and its change capture (default on). The bench's load section turns it off:
   * the capture is a trigger whose NOTIFY serialises commits, a cost of the stand-in that hosted
   * Realtime (which reads the WAL) does not put on the database.
   */
  realtime?: boolean;
}

export interface DevServer {
  url: string;
  server: Server;
  broker: QStashBroker;
  secrets: DevSecrets;
  google: StandInGoogle | undefined;
  /** What the local Auth sent (confirmations, magic links), newest last. */
  authMail: AuthMailer;
  close(): Promise<void>;
}

/**
 * The whole backend in one process: the function router (production URLs), PGlite or DATABASE_URL
 * with migrations applied, embedded Redis or REDIS_URL, the QStash-compatible broker at /__qstash,
 * and the local Supabase surface for the frontend: Auth at /auth/v1, PostgREST at /rest/v1 and
 * Realtime at /realtime/v1/websocket.
 *
 * Start-up can be abandoned at any step (`signal`): what was opened so far is closed, in reverse.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const secrets = options.secrets ?? (await loadDevSecrets());
  const host = options.host ?? "127.0.0.1";
  const closers: (() => Promise<void> | void)[] = [];
  let onUrl: (url: string) => void = () => {};
  const unwind = async () => {
    for (const close of closers.splice(0).reverse()) {
      await Promise.resolve(close()).catch(() => {});
    }
  };
  const step = () => {
    if (options.signal?.aborted) {
      throw new Error("dev server start-up was interrupted");
    }
  };
  try {
    // Until everything is up, every request gets the error envelope with Retry-After.
    let handle: (request: Request, client: string) => Promise<Response> = async () =>
      errorResponse(
        new ApiError("service_unavailable", "The backend is starting; retry shortly", {
          headers: { "retry-after": "2" },
        }),
        crypto.randomUUID(),
      );
    let upgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void = (_request, socket) => {
      socket.end("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n");
    };
    if (!process.env.DATABASE_URL) {
      // One process per embedded database (PGlite is single-process): a second one is refused here.
      const lock = lockDataDir(process.env.PGLITE_DATA_DIR ?? join(dataDir, "pglite"));
      closers.push(() => lock.release());
      onUrl = (url) => lock.setUrl(url);
    }
    const server = createServer(
      getRequestListener((request, env) => handle(request, env.incoming.socket.remoteAddress ?? "unknown")),
    );
    server.on("upgrade", (request, socket, head) => upgrade(request, socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 3001, host, resolve);
    });
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${host}:${port}`;
    onUrl(url);
    await options.onListening?.(url);
    applyDevEnv(secrets, url);
    step();
    const seed = options.seed ?? true;
    const google =
      (options.standInGoogle ?? seed) && !process.env.GOOGLE_OAUTH_CLIENT_ID
        ? new StandInGoogle()
        : undefined;
    if (google) {
      await google.start();
      closers.push(() => google.close());
      google.mailbox = demoMailbox;
      for (const [key, value] of Object.entries(google.oauthEnv())) {
        process.env[key] = value;
      }
    }

    const closeEngines = await useLocalEngines();
    closers.push(async () => {
      await closeDatabase();
      await closeEngines();
    });
    const engine = await getEngine();
    step();
    await applyMigrations(engine, { seed });
    await configureTaskEvents(engine, signingSecret(), `${url}/webhook/task`);
    step();

    const broker = new QStashBroker({
      token: secrets.qstashToken,
      currentSigningKey: secrets.qstashCurrentSigningKey,
      ...(options.retryDelayMs ? { retryDelayMs: options.retryDelayMs } : {}),
    });
    closers.push(() => broker.close());
    const authMail = new AuthMailer({
      outboxDir: getConfig().OUTBOX_DIR,
      print: options.printAuthMail ?? false,
    });
    const gateway = supabaseGateway({
      keys: secrets.auth,
      publishableKey: getConfig().SUPABASE_PUBLISHABLE_KEY,
      origins: () => getConfig().FRONTEND_ORIGIN,
      auth: localAuth({
        keys: secrets.auth,
        settings: { ...loadAuthSettings(), ...options.authSettings },
        mailer: authMail,
        issuerBase: () => getConfig().SUPABASE_URL,
        publicUrl: url,
      }),
      rest: restHandler(),
    });
    const router = createRouter();
    await router.preload();
    step();
    const stopRelay = await startTaskRelay(engine, `${url}/webhook/task`);
    closers.push(stopRelay);
    let realtime: Awaited<ReturnType<typeof startRealtime>> | undefined;
    if (options.realtime !== false) {
      await installChangeCapture(engine);
      realtime = await startRealtime({
        engine,
        keys: secrets.auth,
        publishableKey: getConfig().SUPABASE_PUBLISHABLE_KEY,
      });
    }
    // In reverse: the WebSockets first (the HTTP server waits for them), then the listener, so no
    // request reaches a service that is shutting down.
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    closers.push(async () => realtime?.close());
    step();

    handle = async (request, client) => {
      const path = new URL(request.url).pathname;
      if (path.startsWith("/__qstash/")) {
        return broker.handle(request, path.slice("/__qstash".length));
      }
      if (gateway.owns(path)) {
        return gateway.handle(request, path, client);
      }
      return router.handle(request);
    };
    upgrade = (request, socket, head) => {
      if (realtime && new URL(request.url ?? "/", url).pathname === "/realtime/v1/websocket") {
        realtime.handleUpgrade(request, socket, head);
      } else {
        socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
      }
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
    step();
    // The QStash schedules, as `npm run schedules` creates them in production. A process whose
    // configuration already points elsewhere (a test that read it first) keeps running without them.
    await registerSchedules().catch((error: unknown) => {
      console.warn(`schedules not registered with the local broker: ${String(error)}`);
    });
    step();

    return {
      url,
      server,
      broker,
      secrets,
      google,
      authMail,
      close: unwind,
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

async function main() {
  // A signal at any point of start-up stops it cleanly (start-up unwinds what it opened, then the
  // process exits); after start-up it closes the running server.
  const abort = new AbortController();
  const starting = startDevServer({
    port: Number(process.env.PORT ?? 3001),
    signal: abort.signal,
    printAuthMail: true,
  });
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log(`\n${signal}: stopping`);
    abort.abort();
    const running = await starting.catch(() => undefined);
    await running?.close();
    rmSync(devServerFile(), { force: true });
    process.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => void stop(signal));
  }
  let dev: DevServer;
  try {
    dev = await starting;
  } catch (error) {
    if (abort.signal.aborted) {
      return;
    }
    throw error;
  }
  if (stopping) {
    return;
  }
  writeFileSync(devServerFile(), `${JSON.stringify({ pid: process.pid, url: dev.url })}\n`);
  const config = getConfig();
  const token = await mintSessionToken(dev.secrets.auth, config.SUPABASE_URL, demoUserId, {
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
      : "none configured: agent endpoints answer 503, lead generation scores by its rules (set OPENROUTER_API_KEY or LLM_BASE_URL)";
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
  task events   pg_notify('task_events') relayed to ${dev.url}/webhook/task

For the frontend (local Supabase: Auth, REST, Realtime; CORS for ${config.FRONTEND_ORIGIN.join(", ")}):

  NEXT_PUBLIC_SUPABASE_URL=${config.SUPABASE_URL}
  NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY=${config.SUPABASE_PUBLISHABLE_KEY}
  NEXT_PUBLIC_API_URL=${dev.url}

  Sign in as demo@northwind.example (Maya, owner) or leo@northwind.example (Leo, member), password
  northwind-demo. Sign-up and magic-link emails are printed here and written to ${config.OUTBOX_DIR}.

Dev session for Maya, owner of the demo workspace "Northwind Roasters" (${demoWorkspaceId}),
valid 7 days; Leo (${demoMemberId}) is its member: npm run token -- ${demoMemberId}

  export TOKEN=${token}
  curl -H "Authorization: Bearer $TOKEN" ${dev.url}/api/workspaces
  curl -H "Authorization: Bearer $TOKEN" ${dev.url}/api/leads/${demoUserId}
`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error instanceof DataDirLockedError ? error.message : error);
    process.exit(1);
  });
}
