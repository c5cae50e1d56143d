import { randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";

/**
 * The local Supabase Auth's signing: an asymmetric (ES256) key, its JWKS, and access tokens with the
 * claims Supabase puts in one.
 */
export interface AuthKeys {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function generateAuthKeys(): Promise<AuthKeys> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = randomUUID();
  return {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: "ES256", use: "sig" },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig", key_ops: ["verify"] },
  };
}

export interface TokenOptions {
  email?: string;
  expiresInSeconds?: number;
  role?: string;
  audience?: string;
  issuer?: string;
  /** Seconds from now (negative: in the past). */
  issuedInSeconds?: number;
  notBeforeInSeconds?: number;
  /** The Auth session the token belongs to (the local Auth's `auth.sessions` row); random otherwise. */
  sessionId?: string;
  /** How the user signed in (`password`, `otp`), as Supabase Auth lists it in `amr`. */
  method?: string;
  userMetadata?: Record<string, unknown>;
  isAnonymous?: boolean;
}

export async function mintSessionToken(
  keys: AuthKeys,
  supabaseUrl: string,
  userId: string,
  options: TokenOptions = {},
): Promise<string> {
  const key = await importJWK(keys.privateJwk, "ES256");
  const now = Math.floor(Date.now() / 1000);
  const token = new SignJWT({
    role: options.role ?? "authenticated",
    email: options.email ?? `${userId.slice(0, 8)}@example.test`,
    phone: "",
    aal: "aal1",
    amr: [{ method: options.method ?? "password", timestamp: now }],
    session_id: options.sessionId ?? randomUUID(),
    is_anonymous: options.isAnonymous ?? false,
    app_metadata: { provider: "email", providers: ["email"] },
    user_metadata: options.userMetadata ?? {},
  })
    .setProtectedHeader({ alg: "ES256", kid: keys.kid, typ: "JWT" })
    .setIssuer(options.issuer ?? `${supabaseUrl.replace(/\/$/, "")}/auth/v1`)
    .setSubject(userId)
    .setAudience(options.audience ?? "authenticated")
    .setIssuedAt(now + (options.issuedInSeconds ?? 0))
    .setExpirationTime(now + (options.expiresInSeconds ?? 3600));
  if (options.notBeforeInSeconds !== undefined) {
    token.setNotBefore(now + options.notBeforeInSeconds);
  }
  return token.sign(key);
}

/** The JWKS as Supabase Auth serves it at `/auth/v1/.well-known/jwks.json`. */
export function jwksResponse(keys: AuthKeys): Response {
  return Response.json({ keys: [keys.publicJwk] }, { headers: { "cache-control": "public, max-age=600" } });
}

/**
 * Only the public keys, for the suites and the bench whose API verifies sessions without the dev
 * server (the whole local Auth, with sessions that can end, is dev/supabase/auth).
 */
export function authHandler(keys: AuthKeys): (request: Request, path: string) => Promise<Response> {
  return async (_request, path) =>
    path === "/auth/v1/.well-known/jwks.json"
      ? jwksResponse(keys)
      : Response.json(
          { code: 404, error_code: "not_found", msg: "only the JWKS is served here" },
          { status: 404 },
        );
}
