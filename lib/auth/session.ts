import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { z } from "zod";
import { getConfig } from "../config";
import { ApiError } from "../http/errors";
import type { Handler, RequestContext } from "../http/handler";

export interface SessionUser {
  id: string;
  email: string | undefined;
  role: "authenticated";
  /** The verified claims, passed on to Postgres as `request.jwt.claims` so RLS sees what PostgREST would. */
  claims: Record<string, unknown>;
}

const sessionClaims = z.object({
  sub: z.uuid(),
  role: z.literal("authenticated"),
  aud: z.union([z.literal("authenticated"), z.array(z.string()).refine((a) => a.includes("authenticated"))]),
  iss: z.string(),
  exp: z.number(),
  iat: z.number().optional(),
  nbf: z.number().optional(),
  email: z.string().optional(),
});

/** How far ahead of our clock a token's issue time may be (clocks drift a little, never minutes). */
const clockSkewSeconds = 60;

let client: SupabaseClient | undefined;

function supabase(): SupabaseClient {
  const config = getConfig();
  client ??= createClient(config.SUPABASE_URL, config.SUPABASE_PUBLISHABLE_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  return client;
}

function unauthorized(message: string): ApiError {
  return new ApiError("unauthorized", message, { headers: { "www-authenticate": 'Bearer realm="api"' } });
}

/**
 * Verifies the caller's Supabase session: signature against the project's JWKS (asymmetric keys)
 * or, for legacy symmetric keys, with Supabase Auth itself; then expiry, issuer, audience and role.
 */
export async function verifySession(request: Request): Promise<SessionUser> {
  const header = request.headers.get("authorization") ?? "";
  const [scheme, token] = header.split(" ");
  if (scheme?.toLowerCase() !== "bearer" || !token) {
    throw unauthorized("A Supabase session is required (Authorization: Bearer <access token>)");
  }
  let claims: unknown;
  try {
    const { data, error } = await supabase().auth.getClaims(token);
    if (error && (error.name === "AuthRetryableFetchError" || (error.status ?? 0) >= 500)) {
      throw new ApiError("service_unavailable", "Supabase Auth could not be reached to verify the session", {
        headers: { "retry-after": "5" },
      });
    }
    if (error || !data) {
      throw unauthorized("The session token is invalid or expired");
    }
    claims = data.claims;
  } catch (error) {
    if (error instanceof ApiError) {
      throw error;
    }
    // A malformed token makes supabase-js throw before any key is fetched; it is still the caller's fault.
    throw unauthorized("The session token is invalid or expired");
  }
  const parsed = sessionClaims.safeParse(claims);
  if (!parsed.success) {
    throw unauthorized("The session token is not a signed-in user's session");
  }
  // getClaims checks the signature and expiry; a token not valid yet, or issued in the future, is
  // refused here (RFC 7519 §4.1.5: nbf; an iat ahead of our clock means a forged or broken issuer).
  const now = Math.floor(Date.now() / 1000);
  if ((parsed.data.nbf ?? 0) > now + clockSkewSeconds || (parsed.data.iat ?? 0) > now + clockSkewSeconds) {
    throw unauthorized("The session token is not valid yet");
  }
  const expectedIssuer = `${getConfig().SUPABASE_URL.replace(/\/$/, "")}/auth/v1`;
  if (parsed.data.iss !== expectedIssuer) {
    throw unauthorized("The session token was issued for another project");
  }
  return {
    id: parsed.data.sub,
    email: parsed.data.email,
    role: "authenticated",
    claims: claims as Record<string, unknown>,
  };
}

export type UserHandler = (ctx: RequestContext & { user: SessionUser }) => Promise<Response>;

/** Requires a verified Supabase session; the handler receives the session's user. */
export function withUser(handler: UserHandler): Handler {
  return async (ctx) => handler({ ...ctx, user: await verifySession(ctx.request) });
}

/**
 * For `/api/x/{user_id}` routes kept from the prototype: the path must name the session's own user.
 * 403 rather than 404, so a frontend bug that mixes users up is loud.
 */
export function requireSelf(user: SessionUser, userId: string): void {
  if (user.id !== userId) {
    throw new ApiError("forbidden", "The session's user may only read their own rows");
  }
}
