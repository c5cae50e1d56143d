import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type AuthKeys, generateAuthKeys } from "./auth";

export const projectRoot = join(import.meta.dirname, "..");
export const dataDir = join(projectRoot, ".data");

/**
 * Where the running `npm run dev` writes its pid and URL, for `npm run token` and other local tools.
 * `DEV_SERVER_FILE` moves it (a test's server must not overwrite the developer's).
 */
export function devServerFile(): string {
  return process.env.DEV_SERVER_FILE ?? join(dataDir, "dev-server.json");
}

export interface DevSecrets {
  qstashToken: string;
  qstashCurrentSigningKey: string;
  qstashNextSigningKey: string;
  supabasePublishableKey: string;
  internalJwtSecret: string;
  unsubscribeSecret: string;
  calendarChannelSecret: string;
  taskWebhookSecret: string;
  tokenEncryptionKey: string;
  auth: AuthKeys;
}

const random = (prefix: string) => `${prefix}${randomBytes(24).toString("base64url")}`;

export async function generateSecrets(): Promise<DevSecrets> {
  return {
    qstashToken: random("qstash_local_"),
    qstashCurrentSigningKey: random("sig_"),
    qstashNextSigningKey: random("sig_"),
    supabasePublishableKey: random("sb_publishable_local_"),
    internalJwtSecret: random("ijwt_"),
    unsubscribeSecret: random("unsub_"),
    calendarChannelSecret: random("gcal_"),
    taskWebhookSecret: `whsec_${randomBytes(32).toString("base64")}`,
    tokenEncryptionKey: `local1:${randomBytes(32).toString("base64")}`,
    auth: await generateAuthKeys(),
  };
}

/**
 * Secrets of this checkout's local stack, made on first use and kept in `.data/` (git-ignored):
 * nothing secret is committed, and nothing needs configuring by hand.
 */
export async function loadDevSecrets(): Promise<DevSecrets> {
  const file = join(dataDir, "dev-secrets.json");
  const existing = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Partial<DevSecrets>) : {};
  // A checkout made before a secret existed gets the new one; the ones it has stay.
  const secrets = { ...(await generateSecrets()), ...existing };
  if (Object.keys(existing).length === Object.keys(secrets).length) {
    return secrets;
  }
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

/** Fills every variable the config schema needs for a local run, leaving any the user set. */
export function applyDevEnv(secrets: DevSecrets, baseUrl: string): void {
  const defaults: Record<string, string> = {
    APP_URL: baseUrl,
    SUPABASE_URL: baseUrl,
    SUPABASE_PUBLISHABLE_KEY: secrets.supabasePublishableKey,
    QSTASH_URL: `${baseUrl}/__qstash`,
    QSTASH_TOKEN: secrets.qstashToken,
    QSTASH_CURRENT_SIGNING_KEY: secrets.qstashCurrentSigningKey,
    QSTASH_NEXT_SIGNING_KEY: secrets.qstashNextSigningKey,
    INTERNAL_JWT_SECRET: secrets.internalJwtSecret,
    UNSUBSCRIBE_SECRET: secrets.unsubscribeSecret,
    CALENDAR_CHANNEL_SECRET: secrets.calendarChannelSecret,
    TASK_WEBHOOK_SECRETS: secrets.taskWebhookSecret,
    TOKEN_ENCRYPTION_KEY: secrets.tokenEncryptionKey,
    PGLITE_DATA_DIR: join(dataDir, "pglite"),
    // The local stack's stand-in accounts live on domains with no DNS: their checks are shown, not enforced.
    EMAIL_SENDER_CHECK: "warn",
  };
  for (const [key, value] of Object.entries(defaults)) {
    if (!process.env[key]) {
      process.env[key] = value;
    }
  }
}
