import type { AuthUserRow } from "./store";

/**
 * Supabase Auth's answers: the user object, the session, and errors in the form auth-js reads. A
 * client that sends `X-Supabase-Api-Version: 2024-01-01` (auth-js does) gets `{ code, message }` and
 * the version header back; older clients get `{ code: <status>, error_code, msg }`.
 */
export const apiVersion = "2024-01-01";

export function authError(
  request: Request,
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  const versioned = (request.headers.get("x-supabase-api-version") ?? "") >= apiVersion;
  const body = versioned
    ? { code, message, ...extra }
    : { code: status, error_code: code, msg: message, ...extra };
  return Response.json(body, {
    status,
    headers: { ...(versioned ? { "x-supabase-api-version": apiVersion } : {}), ...headers },
  });
}

export function authJson(request: Request, body: unknown, status = 200): Response {
  const versioned = (request.headers.get("x-supabase-api-version") ?? "") >= apiVersion;
  return Response.json(body, { status, headers: versioned ? { "x-supabase-api-version": apiVersion } : {} });
}

const iso = (value: string | null) => (value ? new Date(value).toISOString() : undefined);

/** The user as `GET /auth/v1/user` and every session answer it. */
export function userJson(user: AuthUserRow) {
  const email = user.email ?? "";
  const identity = user.is_anonymous
    ? []
    : [
        {
          identity_id: user.id,
          id: user.id,
          user_id: user.id,
          identity_data: {
            email,
            email_verified: user.email_confirmed_at !== null,
            phone_verified: false,
            sub: user.id,
          },
          provider: "email",
          last_sign_in_at: iso(user.last_sign_in_at),
          created_at: iso(user.created_at),
          updated_at: iso(user.updated_at),
          email,
        },
      ];
  return {
    id: user.id,
    aud: "authenticated",
    role: "authenticated",
    email,
    email_confirmed_at: iso(user.email_confirmed_at),
    phone: "",
    confirmation_sent_at: iso(user.confirmation_sent_at),
    recovery_sent_at: iso(user.recovery_sent_at),
    confirmed_at: iso(user.email_confirmed_at),
    last_sign_in_at: iso(user.last_sign_in_at),
    app_metadata: user.raw_app_meta_data ?? { provider: "email", providers: ["email"] },
    user_metadata: user.raw_user_meta_data ?? {},
    identities: identity,
    created_at: iso(user.created_at),
    updated_at: iso(user.updated_at),
    is_anonymous: user.is_anonymous,
  };
}
