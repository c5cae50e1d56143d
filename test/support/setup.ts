import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, inject } from "vitest";
import type { DevSecrets } from "../../dev/env";
import { useLocalEngines } from "../../dev/stack";
import { closeDatabase } from "../../lib/db/client";
import { model } from "./model";
import { rotatedWebhookSecret } from "./rotation";

/**
 * Per test file: its own copy of the migrated database (a PostgreSQL database cloned from the
 * template, or a copied PGlite directory), the local Redis transport, and the environment a deployed
 * function would have, with this run's secrets.
 */
const secrets = JSON.parse(inject("secrets")) as DevSecrets;
const adminUrl = inject("pgAdminUrl");

Object.assign(process.env, {
  NODE_ENV: "test",
  APP_URL: "http://app.test",
  FRONTEND_ORIGIN: "https://app.example.com",
  SUPABASE_URL: inject("authUrl"),
  SUPABASE_PUBLISHABLE_KEY: secrets.supabasePublishableKey,
  QSTASH_URL: "http://127.0.0.1:9/__qstash",
  QSTASH_TOKEN: secrets.qstashToken,
  QSTASH_CURRENT_SIGNING_KEY: secrets.qstashCurrentSigningKey,
  QSTASH_NEXT_SIGNING_KEY: secrets.qstashNextSigningKey,
  INTERNAL_JWT_SECRET: secrets.internalJwtSecret,
  UNSUBSCRIBE_SECRET: secrets.unsubscribeSecret,
  CALENDAR_CHANNEL_SECRET: secrets.calendarChannelSecret,
  TOKEN_ENCRYPTION_KEY: secrets.tokenEncryptionKey,
  TASK_WEBHOOK_SECRETS: `${secrets.taskWebhookSecret},${rotatedWebhookSecret}`,
  // The stand-in model answers at once, or when a test says (its `gate`): the client's timeouts are
  // only safety nets here, at the most the configuration allows, so that a busy machine never makes
  // an answer "late". The test of a model slower than the deadline sets short ones of its own.
  LLM_TIMEOUT_MS: "120000",
  LLM_DEADLINE_MS: "280000",
});

let dropDatabase: () => Promise<void> = async () => {};
if (adminUrl) {
  const name = `${inject("pgTemplate").replace(/_template$/, "")}_${randomBytes(4).toString("hex")}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  // Retried until the other clone is done, for up to two minutes: a safety net far above what a
  // loaded machine needs (twenty quick attempts, a few seconds, once ran out while another file's
  // clone was still copying).
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await admin.unsafe(`create database ${name} template ${inject("pgTemplate")}`);
      break;
    } catch (error) {
      // Two files cloning the template at the same instant make PostgreSQL refuse one of them.
      if (Date.now() > deadline) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
    }
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  process.env.DATABASE_URL = url.toString();
  dropDatabase = async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  };
} else {
  const dir = mkdtempSync(join(tmpdir(), "aat-pglite-"));
  cpSync(inject("pgliteTemplateDir"), dir, { recursive: true });
  process.env.PGLITE_DATA_DIR = dir;
  delete process.env.DATABASE_URL;
  dropDatabase = async () => rmSync(dir, { recursive: true, force: true });
}

const closeEngines = await useLocalEngines();

process.env.LLM_BASE_URL = await model.start();
process.env.LLM_API_KEY = "stand-in-key";
process.env.LLM_FALLBACK_MODELS = "stand-in/fallback-model";

afterAll(async () => {
  await model.close();
  await closeDatabase();
  await closeEngines();
  await dropDatabase();
});
