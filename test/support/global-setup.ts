import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRequestListener } from "@hono/node-server";
import chromium from "@sparticuz/chromium";
import postgres from "postgres";
import type { TestProject } from "vitest/node";
import { authHandler } from "../../dev/auth";
import { applyMigrations } from "../../dev/db/migrate";
import { openPglite } from "../../dev/db/pglite";
import { generateSecrets } from "../../dev/env";
import { connectPostgres } from "../../lib/db/client";

declare module "vitest" {
  export interface ProvidedContext {
    secrets: string;
    authUrl: string;
    pgAdminUrl: string;
    pgTemplate: string;
    pgliteTemplateDir: string;
  }
}

/**
 * Once per run: the Supabase Auth stand-in (JWKS over HTTP, as supabase-js fetches it), and a migrated
 * template database that each test file copies: a PostgreSQL template database when DATABASE_URL
 * names a server, otherwise a PGlite data directory.
 */
export default async function setup(project: TestProject) {
  // @sparticuz/chromium inflates its browser into TMPDIR on first use, and any later caller takes the
  // file for ready as soon as it exists: a browser launched while another test file (or another
  // worker of the same crawl) is still writing it fails with ETXTBSY, and on a busy machine the
  // writing takes long enough for that to happen (three of four sites of a crawl failed so). Inflated
  // here once, before any test file starts; a no-op when it already is.
  await chromium.executablePath();
  const secrets = await generateSecrets();
  const auth = authHandler(secrets.auth);
  const server = createServer(getRequestListener((request) => auth(request, new URL(request.url).pathname)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const authUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const cleanups: (() => Promise<void>)[] = [async () => void server.close()];
  const adminUrl = process.env.DATABASE_URL ?? "";
  let pgTemplate = "";
  let pgliteTemplateDir = "";

  if (adminUrl) {
    const prefix = `aat_test_${randomBytes(4).toString("hex")}`;
    pgTemplate = `${prefix}_template`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${pgTemplate}`);
    const templateUrl = new URL(adminUrl);
    templateUrl.pathname = `/${pgTemplate}`;
    const engine = await connectPostgres(templateUrl.toString(), 1);
    await applyMigrations(engine);
    await engine.close();
    cleanups.push(async () => {
      const dbs = await admin<
        { datname: string }[]
      >`select datname from pg_database where datname like ${`${prefix}%`}`;
      for (const { datname } of dbs) {
        await admin.unsafe(`drop database if exists ${datname} with (force)`);
      }
      await admin.end();
    });
  } else {
    pgliteTemplateDir = mkdtempSync(join(tmpdir(), "aat-pglite-template-"));
    const engine = await openPglite(pgliteTemplateDir);
    await applyMigrations(engine);
    await engine.close();
    cleanups.push(async () => rmSync(pgliteTemplateDir, { recursive: true, force: true }));
  }

  project.provide("secrets", JSON.stringify(secrets));
  project.provide("authUrl", authUrl);
  project.provide("pgAdminUrl", adminUrl);
  project.provide("pgTemplate", pgTemplate);
  project.provide("pgliteTemplateDir", pgliteTemplateDir);

  return async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup();
    }
  };
}
