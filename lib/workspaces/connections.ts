/**
 * Connecting a workspace's Google account (OAuth 2.0 authorization code with PKCE, offline access)
 * and disconnecting it. The flow:
 *  1. `connectUrl`: an owner or admin asks; a random state nonce is stored in Redis for ten minutes
 *     with the member, the workspace, the session and the PKCE verifier, and the state Google echoes
 *     is that nonce with an HMAC over it and the member's ids.
 *  2. `finishConnect` (Google redirects the browser back): the state must verify and be unused (it is
 *     taken once), the member must still be an owner or admin, the code is exchanged with the
 *     verifier (so a code from another flow cannot be swapped in), the ID token is verified for the
 *     account's address, the granted scopes must cover the features, and the refresh token is sealed
 *     before it is stored.
 *  3. `disconnect`: channels and the Gmail watch are stopped, the token is revoked at Google, and the
 *     mailbox and calendar stop (queued mail is cancelled with the reason).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { and, eq, ne } from "drizzle-orm";
import type { Credentials } from "google-auth-library";
import { z } from "zod";
import { calendarOfConnection, detachCalendars } from "../booking/calendars";
import { activeChannels, stopChannel } from "../booking/channels";
import { frontendUrl as frontendOrigin, getConfig } from "../config";
import { googleConnections } from "../db/schema";
import { serviceDb } from "../db/service";
import { isoTimestamp } from "../db/timestamps";
import { detachMailboxes, mailboxOfConnection } from "../email/mailboxes";
import {
  type Connection,
  connectionById,
  connectionForEmail,
  connectionsOf,
  googleScopes,
  oauthClient,
  requiredScopes,
  withGoogle,
} from "../google/connections";
import { googleStatus } from "../google/errors";
import { ApiError } from "../http/errors";
import { getRedis } from "../kv";
import { log } from "../log";
import { appUrl } from "../queue";
import { seal } from "../security/secret-box";
import { resolveWorkspace } from "./access";

export const callbackPath = "/api/google/callback";
const stateTtlSeconds = 600;

/** `GET /api/google/connect` with Accept: application/json: the consent screen to navigate to. */
export const consentUrl = z.object({ url: z.url() });

export const connectQuery = z.object({
  workspace_id: z.uuid().optional(),
  return_to: z
    .string()
    .regex(/^\/[A-Za-z0-9/_\-.~%]*$/)
    .max(300)
    .optional()
    .meta({ description: "A path of the frontend to return to afterwards (default /settings/google)" }),
});
export const callbackQuery = z.object({
  state: z.string().min(1).max(500),
  code: z.string().min(1).max(2000).optional(),
  error: z.string().max(200).optional(),
  scope: z.string().max(4000).optional(),
});

export const connectionView = z
  .object({
    id: z.uuid(),
    workspace_id: z.uuid(),
    kind: z.enum(["oauth", "environment"]),
    email: z.string(),
    status: z.enum(["active", "needs_reconnect", "disconnected"]),
    status_reason: z.string().nullable(),
    scopes: z.array(z.string()),
    connected_at: z.string(),
  })
  .meta({ id: "GoogleConnection" });
export type ConnectionView = z.infer<typeof connectionView>;

export function publicConnection(connection: Connection): ConnectionView {
  return {
    id: connection.id,
    workspace_id: connection.workspace_id,
    kind: connection.kind,
    email: connection.email,
    status: connection.status,
    status_reason: connection.status_reason,
    scopes: connection.scopes,
    connected_at: isoTimestamp(connection.connected_at),
  };
}

const flowState = z.object({
  user_id: z.uuid(),
  workspace_id: z.uuid(),
  session_id: z.string(),
  verifier: z.string().min(43),
  return_to: z.string(),
});

const stateKey = (nonce: string) => `google-oauth-state:${nonce}`;

function stateMac(nonce: string, userId: string, workspaceId: string): Buffer {
  return createHmac("sha256", getConfig().INTERNAL_JWT_SECRET)
    .update(`google-oauth-state.v1.${nonce}.${userId}.${workspaceId}`)
    .digest();
}

/** Where Google sends the browser back to (registered as the OAuth client's redirect URI). */
export const redirectUri = () => appUrl(callbackPath);

/** Step 1: the consent screen's URL for an owner or admin connecting the workspace's account. */
export async function connectUrl(
  user: { id: string; claims: Record<string, unknown> },
  query: z.infer<typeof connectQuery>,
): Promise<string> {
  const workspace = await resolveWorkspace(user.id, query.workspace_id, "admin");
  const client = await oauthClient(redirectUri());
  const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
  const nonce = randomBytes(32).toString("base64url");
  const record: z.infer<typeof flowState> = {
    user_id: user.id,
    workspace_id: workspace.id,
    session_id: String(user.claims.session_id ?? ""),
    verifier: codeVerifier,
    return_to: query.return_to ?? "/settings/google",
  };
  await getRedis().set(stateKey(nonce), JSON.stringify(record), { ex: stateTtlSeconds });
  const state = `${nonce}.${stateMac(nonce, user.id, workspace.id).toString("base64url")}`;
  return client.generateAuthUrl({
    access_type: "offline",
    prompt: "consent",
    include_granted_scopes: true,
    scope: [...googleScopes],
    state,
    code_challenge: codeChallenge,
    // The enum lives in google-auth-library; its value is the string Google documents.
    code_challenge_method: "S256" as never,
  });
}

/** The frontend page the browser lands on after the flow, with what happened. */
function frontendUrl(path: string, params: Record<string, string>): string {
  const url = new URL(path, frontendOrigin());
  for (const [key, value] of Object.entries(params)) {
    url.searchParams.set(key, value);
  }
  return url.toString();
}

/** Step 2: Google's redirect back. Returns where to send the browser. */
export async function finishConnect(query: z.infer<typeof callbackQuery>): Promise<string> {
  const [nonce = "", mac = "", extra] = query.state.split(".");
  if (!nonce || !mac || extra !== undefined) {
    throw new ApiError("bad_request", "The OAuth state is malformed");
  }
  // Taken once: a replayed or raced callback finds nothing.
  const raw = await getRedis().getdel<string | Record<string, unknown>>(stateKey(nonce));
  const parsed = flowState.safeParse(typeof raw === "string" ? JSON.parse(raw) : raw);
  if (!parsed.success) {
    throw new ApiError("bad_request", "The OAuth state is unknown, used or expired; start connecting again");
  }
  const flow = parsed.data;
  const expected = stateMac(nonce, flow.user_id, flow.workspace_id);
  const given = Buffer.from(mac, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ApiError("bad_request", "The OAuth state does not verify");
  }
  if (query.error || !query.code) {
    return frontendUrl(flow.return_to, { google: "refused", reason: query.error ?? "no_code" });
  }
  // Still an owner or admin (the role may have changed while the consent screen was open).
  await resolveWorkspace(flow.user_id, flow.workspace_id, "admin");
  const client = await oauthClient(redirectUri());
  let tokens: Credentials;
  try {
    ({ tokens } = await client.getToken({
      code: query.code,
      codeVerifier: flow.verifier,
      redirect_uri: redirectUri(),
    }));
  } catch (error) {
    const status = googleStatus(error);
    if (status >= 400 && status < 500) {
      throw new ApiError(
        "bad_request",
        "Google refused the authorization code (used, expired or from another flow)",
        {
          cause: error,
        },
      );
    }
    throw new ApiError("upstream_error", "Google's token endpoint did not answer", { cause: error });
  }
  if (!tokens.refresh_token || !tokens.id_token) {
    throw new ApiError("upstream_error", "Google returned no refresh token or ID token; connect again");
  }
  const ticket = await client
    .verifyIdToken({ idToken: tokens.id_token, audience: getConfig().GOOGLE_OAUTH_CLIENT_ID ?? "" })
    .catch((error: unknown) => {
      throw new ApiError("upstream_error", "Google's ID token does not verify", { cause: error });
    });
  const identity = ticket.getPayload();
  if (!identity?.email || identity.email_verified !== true || !identity.sub) {
    throw new ApiError("unprocessable_entity", "The Google account has no verified address", {
      retryable: false,
    });
  }
  const granted = new Set<string>((tokens.scope ?? query.scope ?? "").split(/\s+/).filter(Boolean));
  const missing = requiredScopes.filter((scope) => !granted.has(scope));
  if (missing.length > 0) {
    await client.revokeToken(tokens.refresh_token).catch(() => undefined);
    return frontendUrl(flow.return_to, { google: "missing_scopes", missing: missing.join(" ") });
  }
  const connection = await storeConnection({
    workspaceId: flow.workspace_id,
    userId: flow.user_id,
    email: identity.email.toLowerCase(),
    sub: identity.sub,
    scopes: [...granted],
    refreshToken: tokens.refresh_token,
  });
  await mailboxOfConnection(connection);
  await calendarOfConnection(connection);
  return frontendUrl(flow.return_to, { google: "connected", email: connection.email });
}

/**
 * Stores the connection with its sealed token: a reconnect of the same account in the same workspace
 * replaces the token and reactivates it; an account live in another workspace is refused (pushes are
 * routed by address, so an account belongs to one workspace at a time).
 */
async function storeConnection(values: {
  workspaceId: string;
  userId: string;
  email: string;
  sub: string;
  scopes: string[];
  refreshToken: string;
}): Promise<Connection> {
  const existing = await connectionForEmail(values.email);
  if (existing && existing.workspace_id !== values.workspaceId) {
    throw new ApiError(
      "conflict",
      `${values.email} is connected to another workspace; disconnect it there first`,
      {
        retryable: false,
      },
    );
  }
  if (existing?.kind === "environment") {
    throw new ApiError("conflict", `${values.email} is configured in this deployment's environment`, {
      retryable: false,
    });
  }
  const id = existing?.id ?? crypto.randomUUID();
  const sealed = seal(values.refreshToken, id);
  const db = await serviceDb();
  const row = {
    workspace_id: values.workspaceId,
    kind: "oauth" as const,
    google_sub: values.sub,
    email: values.email,
    scopes: values.scopes,
    refresh_token_ciphertext: sealed.ciphertext,
    token_key_id: sealed.keyId,
    status: "active" as const,
    status_reason: null,
    connected_by: values.userId,
    connected_at: new Date().toISOString(),
  };
  const [stored] = existing
    ? await db.update(googleConnections).set(row).where(eq(googleConnections.id, id)).returning()
    : await db
        .insert(googleConnections)
        .values({ id, ...row })
        .returning();
  if (!stored) {
    throw new Error("connection write returned nothing");
  }
  return stored;
}

export async function listConnections(
  userId: string,
  workspaceId: string | undefined,
): Promise<ConnectionView[]> {
  const workspace = await resolveWorkspace(userId, workspaceId);
  return (await connectionsOf(workspace.id)).map(publicConnection);
}

/** Step 3: disconnects an account (owners and admins of its workspace). */
export async function disconnect(userId: string, connectionId: string): Promise<ConnectionView> {
  const connection = await connectionById(connectionId);
  if (!connection || connection.status === "disconnected") {
    throw new ApiError("not_found", "No such Google connection");
  }
  await resolveWorkspace(userId, connection.workspace_id, "admin");
  if (connection.kind === "environment") {
    throw new ApiError(
      "conflict",
      "This account is configured in the deployment's environment (GMAIL_*); remove it there",
      { retryable: false },
    );
  }
  if (connection.status === "active") {
    await stopEverything(connection);
  }
  const db = await serviceDb();
  const [done] = await db
    .update(googleConnections)
    .set({
      status: "disconnected",
      status_reason: `disconnected by ${userId}`,
      refresh_token_ciphertext: null,
      token_key_id: null,
      disconnected_at: new Date().toISOString(),
    })
    .where(and(eq(googleConnections.id, connection.id), ne(googleConnections.status, "disconnected")))
    .returning();
  const { cancelled } = await detachMailboxes(connection.id);
  await detachCalendars(connection.id);
  log.info({ connection: connection.id, cancelled }, "Google account disconnected");
  return publicConnection(done ?? connection);
}

/**
 * Stops the calendar's channels and the Gmail watch, then revokes the token at Google. A revoke that
 * Google answers with 400 means the token is dead already; a failure to reach Google is a 503, and
 * nothing is marked, so the disconnect can be repeated.
 */
async function stopEverything(connection: Connection): Promise<void> {
  const calendar = await calendarOfConnection(connection);
  for (const channel of await activeChannels(calendar.id)) {
    await stopChannel({ row: calendar, connection }, channel);
  }
  try {
    await withGoogle(connection, async (auth) => {
      const { gmailApi } = await import("../google/gmail");
      await gmailApi(auth)
        .users.stop({ userId: "me" })
        .catch((error: unknown) => {
          log.warn({ err: error, connection: connection.id }, "stopping the Gmail watch failed");
        });
      const refreshToken = (auth.credentials as { refresh_token?: string | null }).refresh_token;
      if (refreshToken && "revokeToken" in auth) {
        await auth.revokeToken(refreshToken);
      }
    });
  } catch (error) {
    const status = googleStatus(error);
    if (error instanceof ApiError && error.code === "google_reconnect_required") {
      return; // the token is already refused: nothing left to revoke
    }
    if (status === 400) {
      return;
    }
    throw new ApiError("service_unavailable", "Google could not be reached to revoke the token; try again", {
      cause: error,
      headers: { "retry-after": "30" },
    });
  }
}
