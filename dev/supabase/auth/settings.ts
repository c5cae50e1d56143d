import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { z } from "zod";
import { projectRoot } from "../../env";

/**
 * The `[auth]` settings of supabase/config.toml, the file `supabase start` and the linked project use,
 * so the local Auth refuses what the project refuses (unconfirmed sign-ins, short passwords,
 * anonymous sign-ins) instead of being kinder. Defaults are Supabase Auth's own.
 */
const seconds = z
  .union([z.number(), z.string().regex(/^\d+s$/)])
  .transform((value) => (typeof value === "number" ? value : Number.parseInt(value, 10)));

const authSettings = z.object({
  site_url: z.url().default("http://localhost:3000"),
  additional_redirect_urls: z.array(z.string()).default([]),
  jwt_expiry: z.number().int().positive().default(3600),
  enable_refresh_token_rotation: z.boolean().default(true),
  refresh_token_reuse_interval: z.number().int().min(0).default(10),
  enable_signup: z.boolean().default(true),
  enable_anonymous_sign_ins: z.boolean().default(false),
  minimum_password_length: z.number().int().min(6).default(6),
  /** Requests per 5 minutes per client address, Supabase Auth's defaults. */
  rate_limit: z
    .object({
      sign_in_sign_ups: z.number().int().positive().default(30),
      token_verifications: z.number().int().positive().default(30),
      token_refresh: z.number().int().positive().default(150),
    })
    .prefault({}),
  email: z
    .object({
      enable_signup: z.boolean().default(true),
      enable_confirmations: z.boolean().default(false),
      max_frequency: seconds.default(60),
      otp_length: z.number().int().min(6).max(10).default(6),
      otp_expiry: z.number().int().positive().default(3600),
    })
    .prefault({}),
});

export type AuthSettings = z.infer<typeof authSettings>;

export function loadAuthSettings(file = join(projectRoot, "supabase", "config.toml")): AuthSettings {
  const config = parse(readFileSync(file, "utf8")) as { auth?: unknown };
  return authSettings.parse(config.auth ?? {});
}
