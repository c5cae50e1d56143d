import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, configKeys, parseConfig } from "../lib/config";

const local = {
  APP_URL: "http://127.0.0.1:3001",
  SUPABASE_URL: "http://127.0.0.1:3001",
  SUPABASE_PUBLISHABLE_KEY: "sb_publishable_x",
  QSTASH_TOKEN: "token",
  QSTASH_CURRENT_SIGNING_KEY: "sig_current_0123456789",
  QSTASH_NEXT_SIGNING_KEY: "sig_next_0123456789abc",
  INTERNAL_JWT_SECRET: "ijwt_0123456789abcdef",
  UNSUBSCRIBE_SECRET: "unsub_0123456789abcdef",
  CALENDAR_CHANNEL_SECRET: "gcal_0123456789abcdef",
  TASK_WEBHOOK_SECRETS: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  TOKEN_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString("base64")}`,
};

function problems(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
}

describe("configuration", () => {
  it("runs locally with only the secrets the dev stack generates; engines embedded", () => {
    const config = parseConfig(local);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.PGLITE_DATA_DIR).toBe(".data/pglite");
    expect(config.MAX_BODY_BYTES).toBe(1_000_000);
  });

  it("has no default for any secret: a missing one is an error, in every environment", () => {
    const found = problems({ APP_URL: local.APP_URL });
    for (const key of [
      "SUPABASE_URL",
      "SUPABASE_PUBLISHABLE_KEY",
      "QSTASH_TOKEN",
      "QSTASH_CURRENT_SIGNING_KEY",
      "QSTASH_NEXT_SIGNING_KEY",
      "INTERNAL_JWT_SECRET",
      "UNSUBSCRIBE_SECRET",
      "CALENDAR_CHANNEL_SECRET",
      "TASK_WEBHOOK_SECRETS",
      "TOKEN_ENCRYPTION_KEY",
    ]) {
      expect(
        found.some((p) => p.startsWith(`${key}:`)),
        key,
      ).toBe(true);
    }
  });

  it("refuses a webhook secret under 24 bytes, or not a whsec_ key (a one-byte key would make forgery a search)", () => {
    for (const value of [
      "whsec_AA==",
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La",
      "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      `${local.TASK_WEBHOOK_SECRETS},whsec_AA==`,
    ]) {
      expect(problems({ ...local, TASK_WEBHOOK_SECRETS: value }).join(), value).toMatch(
        /^TASK_WEBHOOK_SECRETS:/,
      );
    }
  });

  it("refuses a token encryption key that is not 32 bytes, or two keys with one id; reads several for rotation", () => {
    for (const value of [
      "k1:c2hvcnQ=",
      Buffer.alloc(32).toString("base64"),
      `k1:${Buffer.alloc(32).toString("base64")},k1:${Buffer.alloc(32, 1).toString("base64")}`,
      `bad id:${Buffer.alloc(32).toString("base64")}`,
    ]) {
      expect(problems({ ...local, TOKEN_ENCRYPTION_KEY: value }).join(), value).toMatch(
        /^TOKEN_ENCRYPTION_KEY:/,
      );
    }
    const keys = parseConfig({
      ...local,
      TOKEN_ENCRYPTION_KEY: `new:${Buffer.alloc(32, 2).toString("base64")},old:${Buffer.alloc(32, 3).toString("base64")}`,
    }).TOKEN_ENCRYPTION_KEY;
    expect(keys.map((key) => key.id)).toEqual(["new", "old"]);
  });

  it("the GMAIL_* shortcut names its workspace and its credentials, and needs the OAuth client for a refresh token", () => {
    const found = problems({ ...local, GMAIL_SENDER: "sam@northwind-roasters.com" });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^GMAIL_SENDER: needs GMAIL_OAUTH_REFRESH_TOKEN/),
        expect.stringMatching(/^GMAIL_WORKSPACE_ID: is required/),
      ]),
    );
    expect(
      problems({
        ...local,
        GMAIL_OAUTH_REFRESH_TOKEN: "1//x",
        GMAIL_SENDER: "a@b.example",
        GMAIL_WORKSPACE_ID: crypto.randomUUID(),
      }),
    ).toEqual([expect.stringMatching(/^GOOGLE_OAUTH_CLIENT_ID: and GOOGLE_OAUTH_CLIENT_SECRET go together/)]);
  });

  it("in production names every missing or unsafe variable in one error", () => {
    const found = problems({ ...local, VERCEL: "1" });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^DATABASE_URL: required in production/),
        expect.stringMatching(/^UPSTASH_REDIS_REST_URL: required in production/),
        expect.stringMatching(/^UPSTASH_REDIS_REST_TOKEN: required in production/),
        expect.stringMatching(/^APP_URL: must be https/),
      ]),
    );
    expect(found.length).toBe(4);
  });

  it("rejects short signing keys and malformed URLs", () => {
    const found = problems({ ...local, QSTASH_CURRENT_SIGNING_KEY: "short", DATABASE_URL: "not a url" });
    expect(found.some((p) => p.startsWith("QSTASH_CURRENT_SIGNING_KEY:"))).toBe(true);
    expect(found.some((p) => p.startsWith("DATABASE_URL:"))).toBe(true);
  });

  it("accepts a complete production environment", () => {
    const config = parseConfig({
      ...local,
      VERCEL: "1",
      APP_URL: "https://api.example.com",
      SUPABASE_URL: "https://abc.supabase.co",
      DATABASE_URL: "postgres://postgres.abc:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
      UPSTASH_REDIS_REST_URL: "https://eu1-x.upstash.io",
      UPSTASH_REDIS_REST_TOKEN: "token",
    });
    expect(config.QSTASH_URL).toBe("https://qstash.upstash.io");
  });

  it("refuses the scrape allowlist and gaps under 2 s in production; both are for tests", () => {
    const production = {
      ...local,
      VERCEL: "1",
      APP_URL: "https://api.example.com",
      DATABASE_URL: "postgres://postgres.abc:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
      UPSTASH_REDIS_REST_URL: "https://eu1-x.upstash.io",
      UPSTASH_REDIS_REST_TOKEN: "token",
    };
    expect(
      problems({ ...production, SCRAPE_ALLOW_HOSTS: "127.0.0.2:8080", SCRAPE_MIN_GAP_MS: "300" }),
    ).toEqual([
      expect.stringMatching(/^SCRAPE_ALLOW_HOSTS: is for tests only/),
      expect.stringMatching(/^SCRAPE_MIN_GAP_MS: must be at least 2000 in production/),
    ]);
    expect(problems({ ...local, SCRAPE_MIN_GAP_MS: "3000", SCRAPE_MAX_GAP_MS: "2000" })).toEqual([
      expect.stringMatching(/^SCRAPE_MAX_GAP_MS: must not be below/),
    ]);
  });

  it(".env.example documents every variable the schema reads", () => {
    const example = readFileSync(new URL("../.env.example", import.meta.url), "utf8");
    for (const key of configKeys) {
      expect(example, key).toMatch(new RegExp(`^#?\\s?${key}=`, "m"));
    }
  });
});

describe("vercel.json", () => {
  const vercel = JSON.parse(readFileSync(new URL("../vercel.json", import.meta.url), "utf8")) as {
    functions: Record<string, { maxDuration: number; memory: number }>;
  };

  it("configures every function under api/ by exactly one pattern", async () => {
    const { join, matchesGlob, relative } = await import("node:path");
    const { discoverFunctions } = await import("../dev/router");
    const root = join(import.meta.dirname, "..");
    for (const fn of discoverFunctions(root)) {
      const file = relative(root, fn.file);
      const patterns = Object.keys(vercel.functions).filter((pattern) => matchesGlob(file, pattern));
      expect(patterns, file).toHaveLength(1);
    }
  });

  it("gives agents time for a consultation and their own model call", async () => {
    const { consultationTimeoutMs } = await import("../lib/agents/marketing-strategist");
    const agents = vercel.functions["api/agents/*.ts"];
    const needed = (consultationTimeoutMs + parseConfig(local).LLM_DEADLINE_MS) / 1000;
    expect(agents?.maxDuration ?? 0).toBeGreaterThan(needed);
  });
});
