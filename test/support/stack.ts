import type { BrokerOptions } from "../../dev/qstash-broker";
import type { DevServer, DevServerOptions } from "../../dev/server";
import { connectThroughConsent, type GoogleAccount, type StandInGoogle } from "../../dev/stand-ins/google";
import { startDnsStandIn } from "../stand-ins/dns";
import { createUser, secrets, tokenFor } from "./helpers";

/**
 * The whole local stack for an end-to-end test file: `env` applied first (configuration is read
 * once), then the dev server on a free port with its own broker, on this file's database and Redis.
 * APP_URL and QSTASH_URL are left to the dev server, so QStash delivers back to it.
 */
export async function startTestStack(
  env: Record<string, string> = {},
  options: Partial<DevServerOptions> = {},
): Promise<DevServer> {
  Object.assign(process.env, env);
  delete process.env.APP_URL;
  delete process.env.QSTASH_URL;
  process.env.TMPDIR ??= "/tmp";
  // DNS never leaves the machine: without a zone of its own a suite gets an empty one (every name
  // NXDOMAIN, as the public DNS answers for the stand-ins' made-up domains), whatever this machine's
  // resolver does.
  const dns = env.DNS_SERVERS ? undefined : await startDnsStandIn({});
  if (dns) {
    process.env.DNS_SERVERS = dns.server;
  }
  const { startDevServer } = await import("../../dev/server");
  const dev = await startDevServer({ port: 0, secrets, seed: false, retryDelayMs: () => 20, ...options });
  // The broker gives up on a delivery after 30 s by default, and a worker still running then is
  // counted as failed and delivered again: a loaded machine's slow scrape (its budget is 200 s of a
  // 300 s function) or agent run would be retried for the clock's sake, not its own. Five minutes,
  // the functions' longest duration, as QStash would wait for them. The dev server offers no option
  // for it, so its broker's is set here.
  (dev.broker as unknown as { options: BrokerOptions }).options.timeoutMs = 300_000;
  const close = dev.close.bind(dev);
  dev.close = async () => {
    await close();
    await dns?.close();
  };
  return dev;
}

/** A weekday at least `daysAhead` days from now, at the given UTC hour. */
export function weekdayAt(hourUtc: number, daysAhead: number): Date {
  const day = new Date(Date.now() + daysAhead * 86_400_000);
  while (day.getUTCDay() === 0 || day.getUTCDay() === 6) {
    day.setUTCDate(day.getUTCDate() + 1);
  }
  day.setUTCHours(hourUtc, 0, 0, 0);
  return day;
}

/** The functions QStash delivers to, which the OpenAPI document leaves out. */
export const qstashDestinations = [
  "/api/workers/agent",
  "/api/workers/scrape",
  "/api/workers/email",
  "/api/workers/calendar",
  "/api/cron/scrape-maintenance",
  "/api/cron/follow-ups",
  "/api/cron/gmail-watch",
  "/api/cron/calendar-watch",
];

/**
 * Connects a user's personal workspace to an account of the stand-in Google through the OAuth
 * consent flow, over HTTP on the dev server, as the workspace's owner would.
 */
export async function connectGoogle(
  dev: DevServer,
  google: StandInGoogle,
  account: GoogleAccount,
  userId: string,
  workspaceId = userId,
): Promise<URL> {
  return connectThroughConsent({
    app: (path, init) => fetch(`${dev.url}${path}`, init),
    appUrl: dev.url,
    google,
    account,
    session: await tokenFor(userId),
    workspaceId,
  });
}

/** A new business: a user whose personal workspace has its own stand-in Google account, connected by OAuth. */
export async function newBusiness(
  dev: DevServer,
  google: StandInGoogle,
): Promise<{ user: string; account: GoogleAccount }> {
  const user = await createUser();
  const account = google.addAccount();
  const landed = await connectGoogle(dev, google, account, user);
  if (landed.searchParams.get("google") !== "connected") {
    throw new Error(`the consent flow ended at ${landed}`);
  }
  return { user, account };
}

/** Calls the dev server over HTTP with a user's session; answers the status and the parsed body. */
export function sessionApi(dev: DevServer) {
  return async (user: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${dev.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // biome-ignore lint/suspicious/noExplicitAny: each test reads the envelope's fields it asserts
    return { status: response.status, body: (await response.json()) as any };
  };
}
