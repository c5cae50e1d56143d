import type { OAuth2Client } from "google-auth-library";
import { z } from "zod";
import { getConfig } from "../config";
import { ApiError } from "../http/errors";

/**
 * Pub/Sub push authentication: the subscription sends `Authorization: Bearer <OIDC token>` signed by
 * Google. Verified with google-auth-library (signature against Google's published keys, expiry,
 * issuer, our configured audience), then the claims Google leaves to us: `email` is the push service
 * account we configured, and `email_verified`. Without both settings every push is refused.
 */
let verifier: OAuth2Client | undefined;

export async function verifyPushToken(request: Request): Promise<void> {
  const config = getConfig();
  if (!config.GMAIL_PUSH_AUDIENCE || !config.GMAIL_PUSH_SERVICE_ACCOUNT) {
    throw new ApiError(
      "service_unavailable",
      "Gmail push is not configured (GMAIL_PUSH_AUDIENCE, GMAIL_PUSH_SERVICE_ACCOUNT)",
    );
  }
  const token = (request.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "");
  if (!token) {
    throw new ApiError("invalid_signature", "Missing the push subscription's OIDC token");
  }
  // Loaded on the first push that carries a token, not at module load: the OpenAPI document imports
  // this module for its schemas, and a refused request (no token, not configured) never needs it.
  const { OAuth2Client } = await import("google-auth-library");
  verifier ??= new OAuth2Client(
    config.GOOGLE_OIDC_CERTS_URL
      ? { endpoints: { oauth2FederatedSignonPemCertsUrl: config.GOOGLE_OIDC_CERTS_URL } }
      : {},
  );
  let claims: { email?: string; email_verified?: boolean } | undefined;
  try {
    const ticket = await verifier.verifyIdToken({ idToken: token, audience: config.GMAIL_PUSH_AUDIENCE });
    claims = ticket.getPayload();
  } catch {
    throw new ApiError(
      "invalid_signature",
      "The push token does not verify (signature, expiry, issuer or audience)",
    );
  }
  if (claims?.email !== config.GMAIL_PUSH_SERVICE_ACCOUNT || claims.email_verified !== true) {
    throw new ApiError(
      "invalid_signature",
      "The push token was not issued to the configured push service account",
    );
  }
}

/** A Pub/Sub push body carrying a Gmail notification. */
export const pushBody = z.object({
  message: z.object({
    data: z.string().min(1),
    messageId: z.string().min(1),
    publishTime: z.string().optional(),
  }),
  subscription: z.string().optional(),
});

export const gmailNotification = z.object({
  emailAddress: z.email(),
  historyId: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform(String),
});
