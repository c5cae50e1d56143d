import { createHash, randomInt, randomUUID } from "node:crypto";
import { z } from "zod";
import { type AuthKeys, jwksResponse, mintSessionToken } from "../../auth";
import { verifyAccessToken } from "../caller";
import type { AuthMailer } from "./mail";
import { authError, authJson, userJson } from "./responses";
import type { AuthSettings } from "./settings";
import * as store from "./store";

/**
 * The local Supabase Auth (`/auth/v1`) for the dev server, for supabase-js and @supabase/ssr:
 * sign-up with confirmation, password and one-time-code sign-in (magic link and code, implicit and
 * PKCE flows), refresh-token rotation, `user`, `logout`, settings and the JWKS. Sessions are signed by
 * the local key, so the API verifies them as it verifies Supabase's. Never a production path.
 */
export interface LocalAuthOptions {
  keys: AuthKeys;
  settings: AuthSettings;
  mailer: AuthMailer;
  /** The issuer's base (SUPABASE_URL): tokens carry `${base}/auth/v1`, as the API expects. */
  issuerBase: () => string;
  /** This server's own URL, for the links in emails. */
  publicUrl: string;
}

const emailSchema = z.email({ error: "Unable to validate email address: invalid format" });

const signUpBody = z.object({
  email: z.string().nullish(),
  password: z.string().nullish(),
  data: z.record(z.string(), z.unknown()).nullish(),
  code_challenge: z.string().nullish(),
  code_challenge_method: z.string().nullish(),
});
const passwordBody = z.object({ email: z.string().nullish(), password: z.string().nullish() });
const refreshBody = z.object({ refresh_token: z.string().nullish() });
const pkceBody = z.object({ auth_code: z.string().nullish(), code_verifier: z.string().nullish() });
const otpBody = z.object({
  email: z.string().nullish(),
  create_user: z.boolean().nullish(),
  data: z.record(z.string(), z.unknown()).nullish(),
  code_challenge: z.string().nullish(),
  code_challenge_method: z.string().nullish(),
});
const verifyBody = z.object({
  type: z.string(),
  email: z.string().nullish(),
  token: z.string().nullish(),
  token_hash: z.string().nullish(),
});
const userUpdateBody = z.object({
  email: z.string().nullish(),
  password: z.string().nullish(),
  data: z.record(z.string(), z.unknown()).nullish(),
});

/** Supabase Auth's hash of a one-time code: hex SHA-224 of the address and the code. */
const tokenHash = (email: string, otp: string) =>
  createHash("sha224").update(`${email.toLowerCase()}${otp}`).digest("hex");

const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

class AuthFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

async function readJson<T>(request: Request, schema: z.ZodType<T>): Promise<T> {
  let body: unknown;
  try {
    const text = await request.text();
    body = text ? JSON.parse(text) : {};
  } catch (error) {
    throw new AuthFailure(
      400,
      "bad_json",
      `Could not parse request body as JSON: ${(error as Error).message}`,
    );
  }
  // PostgreSQL cannot store U+0000; Supabase Auth refuses such input before it reaches the database.
  if (JSON.stringify(body).includes("\\u0000")) {
    throw new AuthFailure(400, "validation_failed", "The request contains a NUL character");
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AuthFailure(400, "validation_failed", `${issue?.path.join(".") || "body"}: ${issue?.message}`);
  }
  return parsed.data;
}

function bearer(request: Request): string {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match?.[1]) {
    throw new AuthFailure(401, "no_authorization", "This endpoint requires a valid Bearer token");
  }
  return match[1];
}

export function localAuth(
  options: LocalAuthOptions,
): (request: Request, path: string, client: string) => Promise<Response> {
  const { settings, mailer } = options;

  const session = async (
    user: store.AuthUserRow,
    method: string,
    existing?: { sessionId: string; refreshToken: string },
  ) => {
    const { sessionId, refreshToken } = existing ?? (await store.createSession(user.id, method));
    const expiresIn = settings.jwt_expiry;
    const accessToken = await mintSessionToken(options.keys, options.issuerBase(), user.id, {
      ...(user.email ? { email: user.email } : { email: "" }),
      expiresInSeconds: expiresIn,
      sessionId,
      method,
      userMetadata: user.raw_user_meta_data ?? {},
      isAnonymous: user.is_anonymous,
    });
    return {
      access_token: accessToken,
      token_type: "bearer",
      expires_in: expiresIn,
      expires_at: Math.floor(Date.now() / 1000) + expiresIn,
      refresh_token: refreshToken,
      user: userJson((await store.userById(user.id)) ?? user),
    };
  };

  /** The caller's verified session: signature, expiry, and a session that still exists. */
  const signedIn = async (request: Request) => {
    let claims: Record<string, unknown>;
    try {
      ({ claims } = await verifyAccessToken(options.keys, bearer(request)));
    } catch (error) {
      if (error instanceof AuthFailure) {
        throw error;
      }
      throw new AuthFailure(
        403,
        "bad_jwt",
        `invalid JWT: unable to parse or verify signature, ${(error as Error).message}`,
      );
    }
    const sessionId = String(claims.session_id ?? "");
    if (!(await store.sessionExists(sessionId))) {
      throw new AuthFailure(403, "session_not_found", "Session from session_id claim in JWT does not exist");
    }
    const user = await store.userById(String(claims.sub ?? ""));
    if (!user) {
      throw new AuthFailure(403, "user_not_found", "User from sub claim in JWT does not exist");
    }
    return { user, sessionId };
  };

  const checkPassword = (password: string) => {
    // bcrypt reads 72 bytes; a longer password would match any with the same start.
    if (Buffer.byteLength(password) > 72) {
      throw new AuthFailure(400, "validation_failed", "Password cannot be longer than 72 characters");
    }
    if (password.length < settings.minimum_password_length) {
      throw new AuthFailure(
        422,
        "weak_password",
        `Password should be at least ${settings.minimum_password_length} characters.`,
        {
          weak_password: {
            reasons: ["length"],
            message: `Password should be at least ${settings.minimum_password_length} characters.`,
          },
        },
      );
    }
  };

  const allowList = settings.additional_redirect_urls.map(globPattern);
  /**
   * Supabase Auth's rule for `redirect_to`: the site's own host, or a URL matching one of the
   * additional redirect URLs as a glob (`*` within a label or segment, `**` across); else the site.
   */
  const redirectTarget = (requested: string | null): string => {
    const site = settings.site_url;
    const url = requested ? URL.parse(requested) : null;
    if (!url || !/^https?:$/.test(url.protocol)) {
      return site;
    }
    if (
      url.hostname === new URL(site).hostname ||
      allowList.some((pattern) => pattern.test(url.toString()))
    ) {
      return url.toString();
    }
    return site;
  };

  const limits = {
    sign_in_sign_ups: new RateLimit(settings.rate_limit.sign_in_sign_ups),
    token_verifications: new RateLimit(settings.rate_limit.token_verifications),
    token_refresh: new RateLimit(settings.rate_limit.token_refresh),
  };
  /**
   * Per client address, as Supabase Auth counts them: the connection's, never a header the client
   * could set (an `X-Forwarded-For` of one's choosing would give every guess a fresh allowance).
   */
  const limit = (client: string, bucket: keyof typeof limits) => {
    if (!limits[bucket].take(client)) {
      throw new AuthFailure(429, "over_request_rate_limit", "Request rate limit reached");
    }
  };

  /** Sends a code and its link, no more often than max_frequency per address. */
  const sendCode = async (
    user: store.AuthUserRow,
    kind: "signup" | "magiclink",
    redirectTo: string | null,
  ) => {
    const email = user.email ?? "";
    const lastSent = kind === "signup" ? user.confirmation_sent_at : user.recovery_sent_at;
    const wait = lastSent
      ? Math.ceil(settings.email.max_frequency - (Date.now() - new Date(lastSent).getTime()) / 1000)
      : 0;
    if (wait > 0) {
      throw new AuthFailure(
        429,
        "over_email_send_rate_limit",
        `For security purposes, you can only request this after ${wait} seconds.`,
      );
    }
    const otp = String(randomInt(0, 10 ** settings.email.otp_length)).padStart(
      settings.email.otp_length,
      "0",
    );
    const hash = tokenHash(email, otp);
    await store.setCode(user.id, kind === "signup" ? "confirmation" : "recovery", hash);
    const link = new URL(`${options.publicUrl}/auth/v1/verify`);
    link.searchParams.set("token", hash);
    link.searchParams.set("type", kind);
    link.searchParams.set("redirect_to", redirectTarget(redirectTo));
    await mailer.send({ to: email, kind, otp, link: link.toString() });
  };

  const startPkce = async (
    userId: string,
    body: { code_challenge?: string | null | undefined; code_challenge_method?: string | null | undefined },
    method: string,
  ) => {
    if (body.code_challenge) {
      const challengeMethod = (body.code_challenge_method ?? "plain").toLowerCase();
      if (challengeMethod !== "s256" && challengeMethod !== "plain") {
        throw new AuthFailure(400, "validation_failed", "code challenge method not supported");
      }
      await store.createFlowState({
        userId,
        codeChallenge: body.code_challenge,
        codeChallengeMethod: challengeMethod,
        method,
      });
    }
  };

  const routes: Record<string, (request: Request, url: URL, client: string) => Promise<Response>> = {
    "GET /.well-known/jwks.json": async () => jwksResponse(options.keys),

    "GET /health": async (request) =>
      authJson(request, {
        version: "local",
        name: "GoTrue",
        description: "Local Supabase Auth for npm run dev",
      }),

    "GET /settings": async (request) =>
      authJson(request, {
        external: {
          email: settings.email.enable_signup,
          phone: false,
          anonymous_users: settings.enable_anonymous_sign_ins,
        },
        disable_signup: !settings.enable_signup,
        mailer_autoconfirm: !settings.email.enable_confirmations,
        phone_autoconfirm: false,
        sms_provider: "",
        saml_enabled: false,
      }),

    "POST /signup": async (request, url, client) => {
      limit(client, "sign_in_sign_ups");
      const body = await readJson(request, signUpBody);
      if (!settings.enable_signup) {
        throw new AuthFailure(422, "signup_disabled", "Signups not allowed for this instance");
      }
      if (body.email === undefined && body.password === undefined) {
        if (!settings.enable_anonymous_sign_ins) {
          throw new AuthFailure(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled");
        }
        const user = await store.insertUser({
          email: null,
          password: null,
          data: body.data ?? {},
          confirmed: false,
          anonymous: true,
        });
        return authJson(request, await session(user, "anonymous"));
      }
      const email = emailSchema.safeParse(body.email?.trim());
      if (!email.success) {
        throw new AuthFailure(400, "validation_failed", "Unable to validate email address: invalid format");
      }
      if (!body.password) {
        throw new AuthFailure(422, "validation_failed", "Signup requires a valid password");
      }
      checkPassword(body.password);
      const redirectTo = url.searchParams.get("redirect_to");
      const existing = await store.userByEmail(email.data);
      if (existing) {
        if (!settings.email.enable_confirmations) {
          throw new AuthFailure(422, "user_already_exists", "User already registered");
        }
        // With confirmations on, Supabase Auth does not reveal that an address is registered: for a
        // confirmed one it answers a made-up user (a new id, the request's own metadata, no identities)
        // and sends nothing; an address not confirmed yet gets the confirmation again.
        if (!existing.email_confirmed_at) {
          await sendCode(existing, "signup", redirectTo);
          return authJson(request, userJson((await store.userById(existing.id)) ?? existing));
        }
        const now = new Date().toISOString();
        return authJson(request, {
          ...userJson({
            ...existing,
            id: randomUUID(),
            email_confirmed_at: null,
            confirmation_sent_at: now,
            recovery_sent_at: null,
            last_sign_in_at: null,
            raw_user_meta_data: body.data ?? {},
            created_at: now,
            updated_at: now,
          }),
          identities: [],
        });
      }
      const user = await store.insertUser({
        email: email.data,
        password: body.password,
        data: body.data ?? {},
        confirmed: !settings.email.enable_confirmations,
      });
      if (!settings.email.enable_confirmations) {
        await store.recordSignIn(user.id);
        return authJson(request, await session(user, "password"));
      }
      await startPkce(user.id, body, "email/signup");
      await sendCode(user, "signup", redirectTo);
      return authJson(request, userJson((await store.userById(user.id)) ?? user));
    },

    "POST /token": async (request, url, client) => {
      const grant = url.searchParams.get("grant_type");
      if (grant === "password") {
        limit(client, "sign_in_sign_ups");
        const body = await readJson(request, passwordBody);
        if (!body.email || !body.password) {
          throw new AuthFailure(400, "validation_failed", "missing email or phone");
        }
        const user = await store.userByEmail(body.email.trim());
        if (!user || !(await store.passwordMatches(user.id, body.password))) {
          throw new AuthFailure(400, "invalid_credentials", "Invalid login credentials");
        }
        if (settings.email.enable_confirmations && !user.email_confirmed_at) {
          throw new AuthFailure(400, "email_not_confirmed", "Email not confirmed");
        }
        await store.recordSignIn(user.id);
        return authJson(request, await session(user, "password"));
      }
      if (grant === "refresh_token") {
        limit(client, "token_refresh");
        const body = await readJson(request, refreshBody);
        if (!body.refresh_token) {
          throw new AuthFailure(400, "validation_failed", "Refresh Token is required");
        }
        const outcome = await store.rotateRefreshToken(
          body.refresh_token,
          settings.refresh_token_reuse_interval,
        );
        if (!outcome.ok) {
          throw outcome.reason === "already_used"
            ? new AuthFailure(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
            : new AuthFailure(
                400,
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
              );
        }
        const user = await store.userById(outcome.userId);
        if (!user) {
          throw new AuthFailure(
            400,
            "refresh_token_not_found",
            "Invalid Refresh Token: Refresh Token Not Found",
          );
        }
        return authJson(
          request,
          await session(user, outcome.method, {
            sessionId: outcome.sessionId,
            refreshToken: outcome.refreshToken,
          }),
        );
      }
      if (grant === "pkce") {
        limit(client, "token_verifications");
        const body = await readJson(request, pkceBody);
        if (!body.auth_code || !body.code_verifier) {
          throw new AuthFailure(
            400,
            "validation_failed",
            "invalid request: both auth code and code verifier should be non-empty",
          );
        }
        const flow = await store.takeFlowState(body.auth_code, settings.email.otp_expiry);
        if (!flow) {
          throw new AuthFailure(404, "flow_state_not_found", "invalid flow state, no valid flow state found");
        }
        const expected = flow.codeChallengeMethod === "s256" ? s256(body.code_verifier) : body.code_verifier;
        if (expected !== flow.codeChallenge) {
          throw new AuthFailure(
            400,
            "bad_code_verifier",
            "code challenge does not match previously saved code verifier",
          );
        }
        const user = await store.userById(flow.userId);
        if (!user) {
          throw new AuthFailure(404, "flow_state_not_found", "invalid flow state, no valid flow state found");
        }
        return authJson(request, await session(user, "otp"));
      }
      throw new AuthFailure(400, "validation_failed", "unsupported_grant_type");
    },

    "POST /otp": async (request, url, client) => {
      limit(client, "sign_in_sign_ups");
      const body = await readJson(request, otpBody);
      const email = emailSchema.safeParse(body.email?.trim());
      if (!email.success) {
        throw new AuthFailure(400, "validation_failed", "Unable to validate email address: invalid format");
      }
      let user = await store.userByEmail(email.data);
      const redirectTo = url.searchParams.get("redirect_to");
      if (!user) {
        if (body.create_user === false || !settings.enable_signup || !settings.email.enable_signup) {
          throw new AuthFailure(422, "otp_disabled", "Signups not allowed for otp");
        }
        user = await store.insertUser({
          email: email.data,
          password: null,
          data: body.data ?? {},
          confirmed: false,
        });
        await startPkce(user.id, body, "email/signup");
        await sendCode(user, "signup", redirectTo);
        return authJson(request, {});
      }
      // An address never confirmed is still signing up: it gets the confirmation, not a magic link.
      const kind = user.email_confirmed_at ? "magiclink" : "signup";
      await startPkce(user.id, body, kind === "signup" ? "email/signup" : "magiclink");
      await sendCode(user, kind, redirectTo);
      return authJson(request, {});
    },

    "POST /verify": async (request, _url, client) => {
      limit(client, "token_verifications");
      const body = await readJson(request, verifyBody);
      const hash =
        body.token_hash ??
        (body.email && body.token ? tokenHash(body.email.trim(), body.token.trim()) : undefined);
      if (!hash) {
        throw new AuthFailure(400, "validation_failed", "Verify requires either a token or a token hash");
      }
      const kinds = kindsFor(body.type);
      const user = await store.consumeCode(hash, kinds, settings.email.otp_expiry);
      if (!user) {
        throw new AuthFailure(403, "otp_expired", "Token has expired or is invalid");
      }
      return authJson(request, await session(user, "otp"));
    },

    "GET /verify": async (_request, url, client) => {
      limit(client, "token_verifications");
      const target = new URL(redirectTarget(url.searchParams.get("redirect_to")));
      const type = url.searchParams.get("type") ?? "";
      const hash = url.searchParams.get("token") ?? "";
      const user = hash
        ? await store.consumeCode(hash, kindsFor(type), settings.email.otp_expiry)
        : undefined;
      if (!user) {
        target.hash = new URLSearchParams({
          error: "access_denied",
          error_code: "otp_expired",
          error_description: "Email link is invalid or has expired",
        }).toString();
        return Response.redirect(target, 303);
      }
      const pkce = await store.latestFlowCode(user.id, type === "signup" ? "email/signup" : "magiclink");
      if (pkce) {
        target.searchParams.set("code", pkce);
        return Response.redirect(target, 303);
      }
      const granted = await session(user, "otp");
      target.hash = new URLSearchParams({
        access_token: granted.access_token,
        expires_at: String(granted.expires_at),
        expires_in: String(granted.expires_in),
        refresh_token: granted.refresh_token,
        token_type: "bearer",
        type,
      }).toString();
      return Response.redirect(target, 303);
    },

    "GET /user": async (request) => {
      const { user } = await signedIn(request);
      return authJson(request, userJson(user));
    },

    "PUT /user": async (request) => {
      const { user, sessionId } = await signedIn(request);
      const body = await readJson(request, userUpdateBody);
      if (body.email && body.email.toLowerCase() !== user.email) {
        // Changing an address needs both mailboxes confirmed; the local Auth does not model it.
        throw new AuthFailure(
          422,
          "validation_failed",
          "Changing the email is not supported by the local Auth",
        );
      }
      if (typeof body.password === "string") {
        checkPassword(body.password);
        if (await store.passwordMatches(user.id, body.password)) {
          throw new AuthFailure(
            422,
            "same_password",
            "New password should be different from the old password.",
          );
        }
      }
      const updated = await store.updateUser(
        user.id,
        {
          ...(typeof body.password === "string" ? { password: body.password } : {}),
          ...(body.data ? { data: body.data } : {}),
        },
        sessionId,
      );
      return authJson(request, userJson(updated ?? user));
    },

    "POST /logout": async (request, url) => {
      const { user, sessionId } = await signedIn(request);
      const scope = url.searchParams.get("scope") ?? "global";
      if (scope !== "global" && scope !== "local" && scope !== "others") {
        throw new AuthFailure(400, "validation_failed", "Unsupported logout scope");
      }
      await store.endSessions(user.id, sessionId, scope);
      return new Response(null, { status: 204 });
    },
  };

  return async (request, path, client) => {
    const url = new URL(request.url);
    const route = routes[`${request.method === "HEAD" ? "GET" : request.method} ${path}`];
    if (!route) {
      const known = Object.keys(routes).some((key) => key.endsWith(` ${path}`));
      return known
        ? authError(request, 405, "method_not_allowed", `${request.method} is not allowed on ${path}`)
        : authError(request, 404, "not_found", `${path} is not a route of the local Auth`);
    }
    try {
      return await route(request, url, client);
    } catch (error) {
      if (error instanceof AuthFailure) {
        return authError(request, error.status, error.code, error.message, error.extra);
      }
      console.error("local auth:", error);
      return authError(
        request,
        500,
        "unexpected_failure",
        "Unexpected failure, please check server logs for more information",
      );
    }
  };
}

/** Which stored code a verify type consumes: sign-up confirms, a magic link or `email` code signs in. */
function kindsFor(type: string): store.CodeKind[] {
  switch (type) {
    case "signup":
      return ["confirmation"];
    case "magiclink":
    case "recovery":
      return ["recovery"];
    case "email":
      return ["confirmation", "recovery"];
    default:
      throw new AuthFailure(400, "validation_failed", `Verify requires a valid type: ${type} is not one`);
  }
}

/** gobwas/glob semantics, as Supabase Auth compiles redirect URLs: `*` stops at `.` and `/`, `**` does not. */
function globPattern(glob: string): RegExp {
  const source = glob
    .split("**")
    .map((part) =>
      part
        .split("*")
        .map((text) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join("[^./]*"),
    )
    .join(".*");
  return new RegExp(`^${source}$`);
}

/** A sliding five-minute window per client, for the `[auth.rate_limit]` settings. */
class RateLimit {
  private readonly seen = new Map<string, number[]>();

  constructor(private readonly perFiveMinutes: number) {}

  take(client: string): boolean {
    const now = Date.now();
    const recent = (this.seen.get(client) ?? []).filter((at) => at > now - 300_000);
    if (recent.length >= this.perFiveMinutes) {
      this.seen.set(client, recent);
      return false;
    }
    recent.push(now);
    this.seen.set(client, recent);
    return true;
  }
}
