import { z } from "zod";

/**
 * Every environment variable the backend reads, validated once.
 *
 * Secrets have no defaults anywhere: locally the dev stack (`dev/`) generates them into `.data/`,
 * so a missing secret always stops the function instead of weakening a check.
 * Infrastructure URLs may be absent locally, where the embedded engines stand in; on Vercel
 * (`VERCEL=1`) or with `NODE_ENV=production` they are required.
 */
const optionalUrl = z.url().optional();
export const logLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);
const secret = (what: string) => z.string().min(16, `${what} must be at least 16 characters`);

/** `kid:base64key[,kid:base64key…]`, each key 32 random bytes; the first encrypts, any decrypts. */
const encryptionKeys = z
  .string()
  .transform((value, ctx) => {
    const keys = value.split(",").map((entry) => entry.trim());
    const parsed: { id: string; key: Buffer }[] = [];
    for (const entry of keys) {
      const [id = "", material = "", extra] = entry.split(":");
      const key = Buffer.from(material, "base64");
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id) || extra !== undefined || key.length !== 32) {
        ctx.addIssue({
          code: "custom",
          message: "each key must be kid:base64 of 32 random bytes (kid: 1–32 of A–Z a–z 0–9 _ -)",
        });
        return z.NEVER;
      }
      parsed.push({ id, key });
    }
    if (new Set(parsed.map((entry) => entry.id)).size !== parsed.length) {
      ctx.addIssue({ code: "custom", message: "key ids must be distinct" });
      return z.NEVER;
    }
    return parsed;
  })
  .describe("AES-256-GCM keys for OAuth refresh tokens at rest: kid:base64(32 bytes), newest first");

/** `https://app.example.com[,http://localhost:3000…]`: origins only (scheme, host, port), no paths. */
const frontendOrigins = z
  .string()
  .transform((value, ctx) => {
    const origins: string[] = [];
    for (const entry of value
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean)) {
      const url = URL.parse(entry);
      if (!url || !/^https?:$/.test(url.protocol) || url.origin !== entry.replace(/\/$/, "")) {
        ctx.addIssue({ code: "custom", message: `${entry} is not an origin (scheme://host[:port])` });
        return z.NEVER;
      }
      origins.push(url.origin);
    }
    if (origins.length === 0) {
      ctx.addIssue({ code: "custom", message: "at least one origin is required" });
      return z.NEVER;
    }
    return origins;
  })
  .describe("The frontend's origins, comma-separated; the first is the one links point to");

const configSchema = z
  .object({
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    VERCEL: z.string().optional(),
    LOG_LEVEL: logLevel.default("info"),

    APP_URL: z.url().describe("Public base URL of this backend; QStash delivers to APP_URL + path"),
    /**
     * The frontend's origins, comma-separated: the first is where links in emails point; every one
     * may call the API from a browser (CORS). The default is a Next.js dev server either way it is opened.
     */
    FRONTEND_ORIGIN: frontendOrigins.default(["http://localhost:3000", "http://127.0.0.1:3000"]),
    MAX_BODY_BYTES: z.coerce.number().int().positive().default(1_000_000),

    DATABASE_URL: optionalUrl,
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(50).default(5),
    PGLITE_DATA_DIR: z.string().default(".data/pglite"),

    SUPABASE_URL: z.url(),
    SUPABASE_PUBLISHABLE_KEY: z.string().min(1),

    UPSTASH_REDIS_REST_URL: optionalUrl,
    UPSTASH_REDIS_REST_TOKEN: z.string().min(1).optional(),
    REDIS_URL: optionalUrl,

    OPENROUTER_API_KEY: z.string().min(1).optional(),
    LLM_BASE_URL: optionalUrl.describe("Any OpenAI-compatible server instead of OpenRouter"),
    LLM_API_KEY: z.string().min(1).optional(),
    LLM_TIMEOUT_MS: z.coerce.number().int().min(1000).max(120_000).default(20_000),
    LLM_DEADLINE_MS: z.coerce.number().int().min(1000).max(280_000).default(50_000),
    LLM_MAX_RETRIES: z.coerce.number().int().min(0).max(5).default(2),
    LLM_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).default(86_400),
    LLM_DAILY_TOKEN_BUDGET: z.coerce
      .number()
      .int()
      .min(1)
      .default(500_000)
      .describe("Model tokens per workspace per UTC day, unless the workspace has its own"),
    LLM_MEMBER_DAILY_TOKEN_BUDGET: z.coerce
      .number()
      .int()
      .min(1)
      .optional()
      .describe("Model tokens per member per workspace per UTC day (default: the workspace's)"),
    LLM_DAILY_USD_BUDGET: z.coerce
      .number()
      .positive()
      .default(5)
      .describe("Model spend in USD per workspace per UTC day, unless the workspace has its own"),
    LLM_MEMBER_DAILY_USD_BUDGET: z.coerce.number().positive().optional(),
    LLM_UNKNOWN_MODEL_PRICE: z
      .string()
      .regex(/^\d+(\.\d+)?,\d+(\.\d+)?$/, "input,output in USD per million tokens")
      .default("3,15")
      .describe(
        "USD per million input,output tokens reserved for a model without a known price (settled to the provider's reported cost)",
      ),
    LLM_MAX_OUTPUT_TOKENS: z.coerce.number().int().min(256).max(32_000).default(4000),
    LLM_MAX_PROMPT_TOKENS: z.coerce
      .number()
      .int()
      .min(1000)
      .default(60_000)
      .describe("Largest prompt (by the token bound) one call may send; larger is refused with 413"),
    AGENT_MAX_CONTEXT_BYTES: z.coerce.number().int().min(1024).default(65_536),
    AGENT_MAX_CONTEXT_TOKENS: z.coerce.number().int().min(256).default(20_000),
    LLM_FALLBACK_MODELS: z.string().optional(),
    LLM_MODEL_PRODUCT_MANAGER: z.string().optional(),
    LLM_MODEL_FINANCE_MANAGER: z.string().optional(),
    LLM_MODEL_MARKETING_STRATEGIST: z.string().optional(),
    LLM_MODEL_LEADGEN_SCRAPER: z.string().optional(),
    LLM_MODEL_OUTBOUND_EMAILER: z.string().optional(),
    LLM_MODEL_BOOKING_CALLPREP: z.string().optional(),
    LLM_MODEL_ENGINEER: z.string().optional(),
    AGENT_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(20),
    RUNWAY_ALERT_MONTHS: z.coerce.number().min(0).default(6),
    INTERNAL_JWT_SECRET: secret("INTERNAL_JWT_SECRET"),
    UNSUBSCRIBE_SECRET: secret("UNSUBSCRIBE_SECRET").describe(
      "Signs unsubscribe links; links must keep working, so rotate only with the old secret kept",
    ),
    CALENDAR_CHANNEL_SECRET: secret("CALENDAR_CHANNEL_SECRET").describe(
      "Signs the token of each Google Calendar push channel; a rotation replaces the channels at the next watch run",
    ),
    TOKEN_ENCRYPTION_KEY: encryptionKeys,
    TASK_WEBHOOK_SECRETS: z
      .string()
      .min(1)
      .superRefine((value, ctx) => {
        // A short key makes forgery a search: each must be at least 24 random bytes.
        for (const secret of value.split(",").map((entry) => entry.trim())) {
          const bytes = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
          if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret) || bytes.length < 24) {
            ctx.addIssue({
              code: "custom",
              message: "each secret must be whsec_ + base64 of at least 24 random bytes",
            });
            return;
          }
        }
      })
      .describe("Standard Webhooks secrets (whsec_…), comma-separated; the first signs, any verifies"),

    SCRAPE_MIN_GAP_MS: z.coerce.number().int().min(0).max(60_000).default(2000),
    SCRAPE_MAX_GAP_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
    SCRAPE_PAGE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(60_000).default(15_000),
    SCRAPE_MAX_BYTES: z.coerce.number().int().min(10_000).max(20_000_000).default(2_000_000),
    SCRAPE_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).default(86_400),
    SCRAPE_ALLOW_HOSTS: z
      .string()
      .optional()
      .describe("Test only: exact host:port pairs the address guard lets through; refused in production"),
    CHROMIUM_PATH: z.string().optional().describe("A Chromium binary instead of @sparticuz/chromium's"),
    DNS_SERVERS: z
      .string()
      .optional()
      .describe(
        "Resolvers for MX and sending-domain checks (host or host:port, comma-separated); the system's by default",
      ),

    GOOGLE_OAUTH_CLIENT_ID: z
      .string()
      .min(1)
      .optional()
      .describe("The OAuth client workspaces connect their Google accounts with (Google Cloud console)"),
    GOOGLE_OAUTH_CLIENT_SECRET: z.string().min(1).optional(),
    GMAIL_SENDER: z
      .email()
      .optional()
      .describe("Shortcut: one Google account from the environment, attached to GMAIL_WORKSPACE_ID"),
    GMAIL_WORKSPACE_ID: z.uuid().optional().describe("The workspace the GMAIL_* account belongs to"),
    GMAIL_SENDER_NAME: z.string().max(200).optional(),
    GMAIL_CREDENTIALS_JSON: z
      .string()
      .optional()
      .describe("Service account key (JSON) with domain-wide delegation"),
    GMAIL_OAUTH_REFRESH_TOKEN: z.string().optional(),
    GOOGLE_API_ROOT_URL: optionalUrl.describe("Another Google API root (the tests' stand-in)"),
    GOOGLE_OAUTH_TOKEN_URL: optionalUrl.describe("Another OAuth token endpoint (the tests' stand-in)"),
    GOOGLE_OAUTH_AUTHORIZE_URL: optionalUrl.describe("Another OAuth consent screen (the tests' stand-in)"),
    GOOGLE_OAUTH_REVOKE_URL: optionalUrl.describe("Another OAuth revocation endpoint (the tests' stand-in)"),
    GMAIL_PUSH_TOPIC: z
      .string()
      .regex(/^projects\/[^/]+\/topics\/[^/]+$/)
      .optional()
      .describe("Pub/Sub topic Gmail publishes mailbox changes to (users.watch)"),
    GMAIL_PUSH_AUDIENCE: optionalUrl.describe("The audience the push subscription puts in its OIDC token"),
    GMAIL_PUSH_SERVICE_ACCOUNT: z
      .email()
      .optional()
      .describe("The service account the push subscription signs as"),
    GOOGLE_OIDC_CERTS_URL: optionalUrl.describe(
      "Another source of Google's token-signing keys (the tests' stand-in)",
    ),
    GOOGLE_CALENDAR_ID: z
      .string()
      .min(1)
      .default("primary")
      .describe("The calendar of the GMAIL_* account (connected accounts use their primary calendar)"),
    MEETING_REMINDER_MINUTES: z.coerce
      .number()
      .int()
      .min(1)
      .max(1440)
      .default(30)
      .describe("How long before a meeting its reminder alert is raised"),
    CALENDAR_CHANNEL_TTL_SECONDS: z.coerce
      .number()
      .int()
      .min(3600)
      .max(2_592_000)
      .default(604_800)
      .describe("The lifetime asked for each Calendar push channel (Google may grant less)"),
    EMAIL_DAILY_CAP: z.coerce
      .number()
      .int()
      .min(1)
      .max(2000)
      .default(30)
      .describe("A new mailbox's daily cap, reached at the end of its ramp (about 30 a day for cold email)"),
    EMAIL_HOURLY_CAP: z.coerce.number().int().min(1).max(500).default(8),
    EMAIL_RAMP_START: z.coerce
      .number()
      .int()
      .min(1)
      .max(2000)
      .default(5)
      .describe(
        "What a new mailbox may send on its first day (it rises by EMAIL_RAMP_STEP a day to its cap)",
      ),
    EMAIL_PLAN_AHEAD_HOURS: z.coerce
      .number()
      .int()
      .min(2)
      .max(168)
      .default(24)
      .describe(
        "How far ahead approved emails get their sending slots; the rest wait, approved, for the hourly planning (follow-ups go first)",
      ),
    EMAIL_RAMP_STEP: z.coerce
      .number()
      .int()
      .min(0)
      .max(2000)
      .default(2)
      .describe("How much a ramping mailbox's daily cap rises each day"),
    EMAIL_MIN_GAP_SECONDS: z.coerce.number().int().min(0).max(86_400).default(90),
    EMAIL_GAP_JITTER_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
    EMAIL_SOFT_BOUNCE_LIMIT: z.coerce
      .number()
      .int()
      .min(1)
      .max(10)
      .default(3)
      .describe(
        "Soft bounces (mailbox full, 4.x.x) of one address after which it is suppressed like a hard bounce",
      ),
    EMAIL_SENDER_CHECK: z
      .enum(["enforce", "warn"])
      .default("enforce")
      .describe(
        "enforce: a mailbox whose domain has neither SPF for Google nor a DKIM key cannot send; warn: it sends, and the check is shown (the local stack, whose stand-in accounts have no DNS)",
      ),
    EMAIL_DKIM_SELECTOR: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i)
      .default("google")
      .describe("The DKIM selector the sending domains sign with (Google Workspace's default is google)"),
    EMAIL_BOUNCE_RATE_LIMIT: z.coerce
      .number()
      .min(0.001)
      .max(0.5)
      .default(0.02)
      .describe("The bounce rate (over 30 days) at which a mailbox or campaign pauses"),
    EMAIL_BOUNCE_MIN_SENDS: z.coerce
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(20)
      .describe("Sends a mailbox or campaign needs before its bounce rate can pause it"),
    EMAIL_SOFT_BOUNCE_RETRY_HOURS: z.coerce
      .number()
      .int()
      .min(1)
      .max(168)
      .default(24)
      .describe("How long after a soft bounce the email is sent again"),
    OUTBOX_DIR: z.string().default(".data/outbox"),

    QSTASH_URL: z.url().default("https://qstash.upstash.io"),
    QSTASH_TOKEN: z.string().min(1),
    QSTASH_CURRENT_SIGNING_KEY: secret("QSTASH_CURRENT_SIGNING_KEY"),
    QSTASH_NEXT_SIGNING_KEY: secret("QSTASH_NEXT_SIGNING_KEY"),
  })
  .superRefine((env, ctx) => {
    if (env.SCRAPE_MAX_GAP_MS < env.SCRAPE_MIN_GAP_MS) {
      ctx.addIssue({
        code: "custom",
        path: ["SCRAPE_MAX_GAP_MS"],
        message: "must not be below SCRAPE_MIN_GAP_MS",
      });
    }
    const gmailCredentials = env.GMAIL_CREDENTIALS_JSON || env.GMAIL_OAUTH_REFRESH_TOKEN;
    if (gmailCredentials && !env.GMAIL_SENDER) {
      ctx.addIssue({ code: "custom", path: ["GMAIL_SENDER"], message: "is required with Gmail credentials" });
    }
    if (env.GMAIL_SENDER && !gmailCredentials) {
      ctx.addIssue({
        code: "custom",
        path: ["GMAIL_SENDER"],
        message: "needs GMAIL_OAUTH_REFRESH_TOKEN or GMAIL_CREDENTIALS_JSON",
      });
    }
    if (env.GMAIL_SENDER && !env.GMAIL_WORKSPACE_ID) {
      ctx.addIssue({
        code: "custom",
        path: ["GMAIL_WORKSPACE_ID"],
        message: "is required with GMAIL_SENDER (the workspace that account belongs to)",
      });
    }
    if (
      (env.GMAIL_OAUTH_REFRESH_TOKEN || env.GOOGLE_OAUTH_CLIENT_ID || env.GOOGLE_OAUTH_CLIENT_SECRET) &&
      (!env.GOOGLE_OAUTH_CLIENT_ID || !env.GOOGLE_OAUTH_CLIENT_SECRET)
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["GOOGLE_OAUTH_CLIENT_ID"],
        message:
          "and GOOGLE_OAUTH_CLIENT_SECRET go together (and are required with GMAIL_OAUTH_REFRESH_TOKEN)",
      });
    }
    const production = env.VERCEL === "1" || env.NODE_ENV === "production";
    if (!production) {
      return;
    }
    const required: [keyof typeof env, string][] = [
      ["DATABASE_URL", "Supabase transaction pooler URL (port 6543)"],
      ["UPSTASH_REDIS_REST_URL", "Upstash Redis REST URL"],
      ["UPSTASH_REDIS_REST_TOKEN", "Upstash Redis REST token"],
    ];
    for (const [key, what] of required) {
      if (!env[key]) {
        ctx.addIssue({ code: "custom", path: [key], message: `required in production (${what})` });
      }
    }
    if (env.APP_URL && !env.APP_URL.startsWith("https://")) {
      ctx.addIssue({ code: "custom", path: ["APP_URL"], message: "must be https in production" });
    }
    if (env.SCRAPE_ALLOW_HOSTS) {
      ctx.addIssue({
        code: "custom",
        path: ["SCRAPE_ALLOW_HOSTS"],
        message: "is for tests only; production reaches public addresses only",
      });
    }
    if (env.SCRAPE_MIN_GAP_MS < 2000) {
      ctx.addIssue({
        code: "custom",
        path: ["SCRAPE_MIN_GAP_MS"],
        message: "must be at least 2000 in production (politeness)",
      });
    }
    if (env.QSTASH_URL.startsWith("http://")) {
      ctx.addIssue({ code: "custom", path: ["QSTASH_URL"], message: "must be https in production" });
    }
  });

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses an environment; every bad variable is named in one error. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const result = configSchema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`),
    );
  }
  return result.data;
}

let cached: Config | undefined;

/** The process's configuration, read from `process.env` once. */
export function getConfig(): Config {
  cached ??= parseConfig(process.env);
  return cached;
}

/** The variables the schema knows, for `.env.example` checks. */
export const configKeys = Object.keys(configSchema.shape) as (keyof Config)[];

/** Where links for people point: the first of the frontend's origins. */
export function frontendUrl(): string {
  return getConfig().FRONTEND_ORIGIN[0] ?? "http://localhost:3000";
}
