import { JWT, OAuth2Client } from "google-auth-library";
import { getConfig } from "../config";

/**
 * The business's Google account, as one authorised client for Gmail and Calendar: a service account
 * with domain-wide delegation impersonating GMAIL_SENDER, or that account's OAuth refresh token.
 * Undefined without credentials (the outbox and "calendar not touched" modes).
 */
const scopes = [
  "https://www.googleapis.com/auth/gmail.send",
  "https://www.googleapis.com/auth/gmail.readonly",
  "https://www.googleapis.com/auth/gmail.modify",
  "https://www.googleapis.com/auth/calendar.events",
  "https://www.googleapis.com/auth/calendar.readonly",
];

let cached: JWT | OAuth2Client | null | undefined;

export function googleAuth(): JWT | OAuth2Client | undefined {
  if (cached !== undefined) {
    return cached ?? undefined;
  }
  const config = getConfig();
  cached = null;
  if (config.GMAIL_CREDENTIALS_JSON && config.GMAIL_SENDER) {
    const key = JSON.parse(config.GMAIL_CREDENTIALS_JSON) as { client_email: string; private_key: string };
    cached = new JWT({ email: key.client_email, key: key.private_key, scopes, subject: config.GMAIL_SENDER });
  } else if (config.GMAIL_OAUTH_REFRESH_TOKEN && config.GMAIL_SENDER) {
    const client = new OAuth2Client({
      clientId: config.GMAIL_OAUTH_CLIENT_ID,
      clientSecret: config.GMAIL_OAUTH_CLIENT_SECRET,
      ...(config.GOOGLE_OAUTH_TOKEN_URL
        ? { endpoints: { oauth2TokenUrl: config.GOOGLE_OAUTH_TOKEN_URL } }
        : {}),
    });
    client.setCredentials({ refresh_token: config.GMAIL_OAUTH_REFRESH_TOKEN });
    cached = client;
  }
  return cached ?? undefined;
}

/** The API root: Google's, or the tests' stand-in. */
export function googleRootUrl(): string | undefined {
  const root = getConfig().GOOGLE_API_ROOT_URL;
  return root ? `${root.replace(/\/$/, "")}/` : undefined;
}
