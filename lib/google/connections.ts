/**
 * Google accounts connected to workspaces: the one place that turns a connection row into an
 * authorised client. A connection is the source of truth; its mailbox (lib/email/mailboxes) and
 * calendar (lib/booking/calendars) rows are state kept beside it, made on first use. OAuth connections keep their refresh token sealed (lib/security/secret-box);
 * the environment shortcut (GMAIL_SENDER with a refresh token or a service account) is a connection
 * row too, of kind `environment`, attached to GMAIL_WORKSPACE_ID, so every feature runs one code path.
 * A refresh Google refuses (`invalid_grant`: revoked, expired, password changed) marks the connection
 * `needs_reconnect` and alerts the workspace's admins; the call fails for good instead of retrying.
 */

import { and, eq, ne, sql } from "drizzle-orm";
import type { JWT, OAuth2Client } from "google-auth-library";
import { alertAdmins } from "../alerts";
import { getConfig } from "../config";
import { googleConnections } from "../db/schema";
import { serviceDb } from "../db/service";
import { ApiError } from "../http/errors";
import { log } from "../log";
import { open } from "../security/secret-box";

export type Connection = typeof googleConnections.$inferSelect;
export type GoogleAuth = OAuth2Client | JWT;

type AuthLibrary = typeof import("google-auth-library");
let authLibrary: Promise<AuthLibrary> | undefined;

/**
 * google-auth-library, loaded by the first call that needs a client: most functions import this
 * module only for connection rows (workspaces, mailboxes, calendars, schedules) and never talk to
 * Google, so they must not pay for the library at cold start.
 */
function googleAuthLibrary(): Promise<AuthLibrary> {
  authLibrary ??= import("google-auth-library");
  return authLibrary;
}

/**
 * What the features need and no more: send, read replies and bounces (history, message metadata,
 * and the Sent search that makes sending at most once), book and watch events, read free/busy; and
 * the account's verified address, from the ID token.
 */
export const googleScopes = [
  "openid",
  "email",
  "https://www.googleapis.com/auth/gmail.send",
  "https://www.googleapis.com/auth/gmail.readonly",
  "https://www.googleapis.com/auth/calendar.events",
  "https://www.googleapis.com/auth/calendar.freebusy",
] as const;
/** The scopes without which a connection is refused (the consent screen lets a user untick some). */
export const requiredScopes = googleScopes.filter((scope) => scope.startsWith("https://"));

/** The OAuth client of this deployment, with the endpoints (Google's, or the tests' stand-in). */
export async function oauthClient(redirectUri?: string): Promise<OAuth2Client> {
  return newOAuthClient(await googleAuthLibrary(), redirectUri);
}

function newOAuthClient({ OAuth2Client }: AuthLibrary, redirectUri?: string): OAuth2Client {
  const config = getConfig();
  if (!config.GOOGLE_OAUTH_CLIENT_ID || !config.GOOGLE_OAUTH_CLIENT_SECRET) {
    throw new ApiError(
      "service_unavailable",
      "Google sign-in is not configured on this deployment (GOOGLE_OAUTH_CLIENT_ID, GOOGLE_OAUTH_CLIENT_SECRET)",
      { retryable: false },
    );
  }
  return new OAuth2Client({
    clientId: config.GOOGLE_OAUTH_CLIENT_ID,
    clientSecret: config.GOOGLE_OAUTH_CLIENT_SECRET,
    ...(redirectUri ? { redirectUri } : {}),
    endpoints: {
      ...(config.GOOGLE_OAUTH_TOKEN_URL ? { oauth2TokenUrl: config.GOOGLE_OAUTH_TOKEN_URL } : {}),
      ...(config.GOOGLE_OAUTH_AUTHORIZE_URL ? { oauth2AuthBaseUrl: config.GOOGLE_OAUTH_AUTHORIZE_URL } : {}),
      ...(config.GOOGLE_OAUTH_REVOKE_URL ? { oauth2RevokeUrl: config.GOOGLE_OAUTH_REVOKE_URL } : {}),
      ...(config.GOOGLE_OIDC_CERTS_URL
        ? { oauth2FederatedSignonPemCertsUrl: config.GOOGLE_OIDC_CERTS_URL }
        : {}),
    },
  });
}

/** The API root: Google's, or the tests' stand-in. */
export function googleRootUrl(): string | undefined {
  const root = getConfig().GOOGLE_API_ROOT_URL;
  return root ? `${root.replace(/\/$/, "")}/` : undefined;
}

let environmentReady: Promise<void> | undefined;

/**
 * The environment's account as a connection of GMAIL_WORKSPACE_ID, made on first use in each process
 * (idempotent: a connection that is live for that address already stays as it is).
 */
export function ensureEnvironmentConnection(): Promise<void> {
  const { GMAIL_SENDER: sender, GMAIL_WORKSPACE_ID: workspaceId } = getConfig();
  if (!sender || !workspaceId) {
    return Promise.resolve();
  }
  environmentReady ??= (async () => {
    const db = await serviceDb();
    await db.execute(sql`
      insert into ${googleConnections} (workspace_id, kind, email, scopes)
      values (${workspaceId}, 'environment', ${sender.toLowerCase()},
        ${sql.raw(`array[${googleScopes.map((scope) => `'${scope}'`).join(", ")}]::text[]`)})
      on conflict (lower(email)) where status <> 'disconnected' do nothing`);
  })();
  environmentReady.catch(() => {
    environmentReady = undefined;
  });
  return environmentReady;
}

export async function connectionById(id: string): Promise<Connection | undefined> {
  const db = await serviceDb();
  const [row] = await db.select().from(googleConnections).where(eq(googleConnections.id, id));
  return row;
}

/** The live (not disconnected) connection of a Google address, whichever workspace has it. */
export async function connectionForEmail(email: string): Promise<Connection | undefined> {
  await ensureEnvironmentConnection();
  const db = await serviceDb();
  const [row] = await db
    .select()
    .from(googleConnections)
    .where(
      and(
        sql`lower(${googleConnections.email}) = ${email.toLowerCase()}`,
        ne(googleConnections.status, "disconnected"),
      ),
    );
  return row;
}

export async function connectionsOf(workspaceId: string): Promise<Connection[]> {
  await ensureEnvironmentConnection();
  const db = await serviceDb();
  return db
    .select()
    .from(googleConnections)
    .where(and(eq(googleConnections.workspace_id, workspaceId), ne(googleConnections.status, "disconnected")))
    .orderBy(googleConnections.connected_at);
}

/** Every connection not disconnected (the schedules renew their watches and channels). */
export async function liveConnections(): Promise<Connection[]> {
  await ensureEnvironmentConnection();
  const db = await serviceDb();
  return db
    .select()
    .from(googleConnections)
    .where(ne(googleConnections.status, "disconnected"))
    .orderBy(googleConnections.connected_at);
}

const clients = new Map<string, { version: string; auth: GoogleAuth }>();

function environmentAuth(library: AuthLibrary): GoogleAuth {
  const config = getConfig();
  if (config.GMAIL_CREDENTIALS_JSON && config.GMAIL_SENDER) {
    const key = JSON.parse(config.GMAIL_CREDENTIALS_JSON) as { client_email: string; private_key: string };
    return new library.JWT({
      email: key.client_email,
      key: key.private_key,
      scopes: requiredScopes,
      subject: config.GMAIL_SENDER,
    });
  }
  const client = newOAuthClient(library);
  client.setCredentials({ refresh_token: config.GMAIL_OAUTH_REFRESH_TOKEN ?? "" });
  return client;
}

/**
 * The authorised client of a connection (kept per process until the row changes). Refuses a
 * connection that is not active: its workspace must reconnect it first.
 */
export async function authFor(connection: Connection): Promise<GoogleAuth> {
  if (connection.status !== "active") {
    throw reconnectRequired(connection);
  }
  // Loaded before the cache is read, so the rest runs without yielding and concurrent uses of a
  // connection share one client (and one token refresh), as before the library was loaded lazily.
  const library = await googleAuthLibrary();
  const cached = clients.get(connection.id);
  if (cached?.version === connection.updated_at) {
    return cached.auth;
  }
  let auth: GoogleAuth;
  if (connection.kind === "environment") {
    auth = environmentAuth(library);
  } else {
    const refreshToken = connection.refresh_token_ciphertext
      ? open(connection.refresh_token_ciphertext, connection.id)
      : undefined;
    if (!refreshToken) {
      // The key it was sealed with is gone (rotated out too early) or the row was altered.
      throw new ApiError(
        "google_reconnect_required",
        `The Google connection of ${connection.email} cannot be unsealed; reconnect it`,
        { retryable: false },
      );
    }
    const client = newOAuthClient(library);
    client.setCredentials({ refresh_token: refreshToken });
    auth = client;
  }
  clients.set(connection.id, { version: connection.updated_at, auth });
  return auth;
}

function reconnectRequired(connection: Connection): ApiError {
  return new ApiError(
    "google_reconnect_required",
    connection.status === "disconnected"
      ? `The Google account ${connection.email} was disconnected`
      : `Google refused the connection of ${connection.email}; an owner or admin must reconnect it`,
    { retryable: false, details: { connection_id: connection.id, status: connection.status } },
  );
}

/** Google's token endpoint refusing the refresh token (RFC 6749 §5.2 `invalid_grant`). */
export function isInvalidGrant(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const data = (current as { response?: { data?: unknown } }).response?.data;
    const code =
      typeof data === "object" && data ? (data as { error?: unknown }).error : (current as Error).message;
    if (code === "invalid_grant") {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Marks the connection needs_reconnect (once) and tells the workspace's owners and admins. */
export async function markNeedsReconnect(connection: Connection, reason: string): Promise<void> {
  const db = await serviceDb();
  const [changed] = await db
    .update(googleConnections)
    .set({ status: "needs_reconnect", status_reason: reason.slice(0, 1000) })
    .where(and(eq(googleConnections.id, connection.id), eq(googleConnections.status, "active")))
    .returning({ id: googleConnections.id });
  clients.delete(connection.id);
  if (changed) {
    log.warn({ connection: connection.id }, "Google refused a connection's refresh token");
    await alertAdmins({
      workspaceId: connection.workspace_id,
      type: "google.reconnect_required",
      severity: "critical",
      title: `Reconnect the Google account ${connection.email}`,
      message: `Google no longer accepts this workspace's access to ${connection.email} (${reason.slice(0, 200)}). Sending, reply tracking and calendar sync for it are stopped until an owner or admin connects it again.`,
      metadata: { connection_id: connection.id, email: connection.email },
    });
  }
}

/**
 * Runs one use of a connection. A refused refresh becomes `needs_reconnect` (with the alert) and a
 * permanent `google_reconnect_required`; every other error passes through unchanged.
 */
export async function withGoogle<T>(
  connection: Connection,
  use: (auth: GoogleAuth) => Promise<T>,
): Promise<T> {
  const auth = await authFor(connection);
  try {
    return await use(auth);
  } catch (error) {
    if (isInvalidGrant(error)) {
      await markNeedsReconnect(connection, "invalid_grant: the refresh token was revoked or expired");
      throw reconnectRequired({ ...connection, status: "needs_reconnect" });
    }
    throw error;
  }
}
