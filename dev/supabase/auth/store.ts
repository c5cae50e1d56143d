import { randomBytes, randomUUID } from "node:crypto";
import { type SQL, sql } from "drizzle-orm";
import { getEngine, rowsOf } from "../../../lib/db/client";

/**
 * The local Auth's rows in the `auth` schema (dev/db/bootstrap.sql), read and written as the database
 * owner, as Supabase Auth does with its own role. Passwords are bcrypt hashes made by pgcrypto, the
 * format Supabase Auth stores.
 */
export interface AuthUserRow {
  id: string;
  email: string | null;
  encrypted_password: string | null;
  email_confirmed_at: string | null;
  confirmation_token: string | null;
  confirmation_sent_at: string | null;
  recovery_token: string | null;
  recovery_sent_at: string | null;
  last_sign_in_at: string | null;
  raw_user_meta_data: Record<string, unknown> | null;
  raw_app_meta_data: Record<string, unknown> | null;
  is_anonymous: boolean;
  created_at: string;
  updated_at: string;
}

const userColumns = sql.raw(
  "id, email, encrypted_password, email_confirmed_at, confirmation_token, confirmation_sent_at, recovery_token, recovery_sent_at, last_sign_in_at, raw_user_meta_data, raw_app_meta_data, is_anonymous, created_at, updated_at",
);

async function query<T>(statement: SQL): Promise<T[]> {
  const { db } = await getEngine();
  return rowsOf<T>(await db.execute(statement));
}

export async function userByEmail(email: string): Promise<AuthUserRow | undefined> {
  const [row] = await query<AuthUserRow>(
    sql`select ${userColumns} from auth.users where lower(email) = lower(${email})`,
  );
  return row;
}

export async function userById(id: string): Promise<AuthUserRow | undefined> {
  const [row] = await query<AuthUserRow>(sql`select ${userColumns} from auth.users where id = ${id}`);
  return row;
}

/** A new user; the product's trigger on auth.users makes their personal workspace. */
export async function insertUser(user: {
  email: string | null;
  password: string | null;
  data: Record<string, unknown>;
  confirmed: boolean;
  anonymous?: boolean;
}): Promise<AuthUserRow> {
  const id = randomUUID();
  const [row] = await query<AuthUserRow>(sql`
    insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, is_anonymous)
    values (
      ${id}, 'authenticated', 'authenticated', ${user.email?.toLowerCase() ?? null},
      case when ${user.password}::text is null then null else extensions.crypt(${user.password}, extensions.gen_salt('bf', 10)) end,
      ${user.confirmed ? sql`now()` : sql`null`},
      ${JSON.stringify(user.anonymous ? { provider: "anonymous", providers: ["anonymous"] } : { provider: "email", providers: ["email"] })}::jsonb,
      ${JSON.stringify(user.data)}::jsonb,
      ${user.anonymous ?? false}
    )
    returning ${userColumns}`);
  if (!row) {
    throw new Error("auth.users insert returned nothing");
  }
  return row;
}

export async function passwordMatches(userId: string, password: string): Promise<boolean> {
  const [row] = await query<{ ok: boolean }>(sql`
    select encrypted_password is not null and encrypted_password = extensions.crypt(${password}, encrypted_password) as ok
    from auth.users where id = ${userId}`);
  return row?.ok === true;
}

/**
 * Updates metadata and the password. A new password ends every other session of the user and voids
 * the codes sent, as Supabase Auth does: a stolen session must not outlive the password change.
 */
export async function updateUser(
  userId: string,
  change: { password?: string; data?: Record<string, unknown> },
  keepSessionId?: string,
): Promise<AuthUserRow | undefined> {
  if (change.password !== undefined) {
    await query(
      sql`delete from auth.sessions where user_id = ${userId} and id is distinct from ${keepSessionId ?? null}::uuid`,
    );
  }
  const [row] = await query<AuthUserRow>(sql`
    update auth.users set
      confirmation_token = case when ${change.password ?? null}::text is null then confirmation_token end,
      recovery_token = case when ${change.password ?? null}::text is null then recovery_token end,
      encrypted_password = case when ${change.password ?? null}::text is null then encrypted_password
        else extensions.crypt(${change.password ?? null}, extensions.gen_salt('bf', 10)) end,
      raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb) || ${JSON.stringify(change.data ?? {})}::jsonb,
      updated_at = now()
    where id = ${userId}
    returning ${userColumns}`);
  return row;
}

export type CodeKind = "confirmation" | "recovery";

/** Stores a one-time code's hash (never the code) and when it was sent. */
export async function setCode(userId: string, kind: CodeKind, tokenHash: string): Promise<void> {
  await query(
    kind === "confirmation"
      ? sql`update auth.users set confirmation_token = ${tokenHash}, confirmation_sent_at = now() where id = ${userId}`
      : sql`update auth.users set recovery_token = ${tokenHash}, recovery_sent_at = now() where id = ${userId}`,
  );
}

/**
 * Consumes a one-time code by its hash: clears it, confirms the address and records the sign-in, in
 * one statement, so a code works once. Answers the user, or nothing for an unknown or expired code.
 */
export async function consumeCode(
  tokenHash: string,
  kinds: CodeKind[],
  expirySeconds: number,
): Promise<AuthUserRow | undefined> {
  const confirmation = kinds.includes("confirmation");
  const recovery = kinds.includes("recovery");
  const [row] = await query<AuthUserRow>(sql`
    update auth.users set
      confirmation_token = case when confirmation_token = ${tokenHash} then null else confirmation_token end,
      recovery_token = case when recovery_token = ${tokenHash} then null else recovery_token end,
      email_confirmed_at = coalesce(email_confirmed_at, now()),
      last_sign_in_at = now(),
      updated_at = now()
    where (${confirmation} and confirmation_token = ${tokenHash}
             and confirmation_sent_at > now() - make_interval(secs => ${expirySeconds}))
       or (${recovery} and recovery_token = ${tokenHash}
             and recovery_sent_at > now() - make_interval(secs => ${expirySeconds}))
    returning ${userColumns}`);
  return row;
}

export async function recordSignIn(userId: string): Promise<void> {
  await query(sql`update auth.users set last_sign_in_at = now() where id = ${userId}`);
}

/** Refresh tokens as Supabase Auth makes them: short random strings, one active per session. */
const newRefreshToken = () => randomBytes(9).toString("base64url");

export async function createSession(
  userId: string,
  method: string,
): Promise<{ sessionId: string; refreshToken: string }> {
  const sessionId = randomUUID();
  const refreshToken = newRefreshToken();
  const { db } = await getEngine();
  await db.transaction(async (tx) => {
    await tx.execute(
      sql`insert into auth.sessions (id, user_id, amr) values (${sessionId}, ${userId}, ${method})`,
    );
    await tx.execute(
      sql`insert into auth.refresh_tokens (token, user_id, session_id) values (${refreshToken}, ${userId}, ${sessionId})`,
    );
  });
  return { sessionId, refreshToken };
}

export async function sessionExists(sessionId: string): Promise<{ amr: string } | undefined> {
  const [row] = await query<{ amr: string }>(sql`select amr from auth.sessions where id = ${sessionId}`);
  return row;
}

export type RefreshOutcome =
  | { ok: true; userId: string; sessionId: string; method: string; refreshToken: string }
  | { ok: false; reason: "not_found" | "already_used" };

/**
 * Refresh-token rotation with Supabase Auth's rules: a token is exchanged once for its successor; a
 * revoked token presented again within the reuse interval gets the session's current token (two tabs
 * refreshing at once), and after it ends the whole session is revoked (a stolen token was replayed).
 */
export async function rotateRefreshToken(
  token: string,
  reuseIntervalSeconds: number,
): Promise<RefreshOutcome> {
  const { db } = await getEngine();
  return db.transaction(async (tx) => {
    const [current] = rowsOf<{
      user_id: string;
      session_id: string;
      revoked: boolean;
      recent: boolean;
      amr: string;
    }>(
      await tx.execute(sql`
        select r.user_id, r.session_id, r.revoked, r.updated_at > now() - make_interval(secs => ${reuseIntervalSeconds}) as recent, s.amr
        from auth.refresh_tokens r join auth.sessions s on s.id = r.session_id
        where r.token = ${token}
        for update of r`),
    );
    if (!current) {
      return { ok: false, reason: "not_found" };
    }
    if (current.revoked) {
      const [active] = rowsOf<{ token: string }>(
        await tx.execute(sql`
          select token from auth.refresh_tokens
          where session_id = ${current.session_id} and not revoked order by id desc limit 1`),
      );
      if (current.recent && active) {
        return {
          ok: true,
          userId: current.user_id,
          sessionId: current.session_id,
          method: current.amr,
          refreshToken: active.token,
        };
      }
      await tx.execute(sql`delete from auth.sessions where id = ${current.session_id}`);
      return { ok: false, reason: "already_used" };
    }
    const next = newRefreshToken();
    await tx.execute(
      sql`update auth.refresh_tokens set revoked = true, updated_at = now() where token = ${token}`,
    );
    await tx.execute(sql`
      insert into auth.refresh_tokens (token, user_id, session_id, parent)
      values (${next}, ${current.user_id}, ${current.session_id}, ${token})`);
    await tx.execute(sql`update auth.sessions set updated_at = now() where id = ${current.session_id}`);
    return {
      ok: true,
      userId: current.user_id,
      sessionId: current.session_id,
      method: current.amr,
      refreshToken: next,
    };
  });
}

/** Ends sessions: `local` the current one, `others` every other, `global` all of the user's. */
export async function endSessions(
  userId: string,
  sessionId: string,
  scope: "global" | "local" | "others",
): Promise<void> {
  const which =
    scope === "local"
      ? sql`id = ${sessionId}`
      : scope === "others"
        ? sql`user_id = ${userId} and id <> ${sessionId}`
        : sql`user_id = ${userId}`;
  await query(sql`delete from auth.sessions where ${which}`);
}

/** PKCE (RFC 7636): the challenge a sign-in started with, exchanged later for a session by its code. */
export async function createFlowState(flow: {
  userId: string;
  codeChallenge: string;
  codeChallengeMethod: string;
  method: string;
}): Promise<string> {
  const authCode = randomUUID();
  await query(sql`
    insert into auth.flow_state (id, user_id, auth_code, code_challenge, code_challenge_method, authentication_method)
    values (${randomUUID()}, ${flow.userId}, ${authCode}, ${flow.codeChallenge}, ${flow.codeChallengeMethod}, ${flow.method})`);
  return authCode;
}

export async function takeFlowState(
  authCode: string,
  maxAgeSeconds: number,
): Promise<
  { userId: string; codeChallenge: string; codeChallengeMethod: string; method: string } | undefined
> {
  const [row] = await query<{
    user_id: string;
    code_challenge: string;
    code_challenge_method: string;
    authentication_method: string;
  }>(sql`
    delete from auth.flow_state
    where auth_code = ${authCode} and created_at > now() - make_interval(secs => ${maxAgeSeconds})
    returning user_id, code_challenge, code_challenge_method, authentication_method`);
  return row
    ? {
        userId: row.user_id,
        codeChallenge: row.code_challenge,
        codeChallengeMethod: row.code_challenge_method,
        method: row.authentication_method,
      }
    : undefined;
}

/** The newest PKCE flow a user started with a method (as Supabase Auth finds it when a link is followed). */
export async function latestFlowCode(userId: string, method: string): Promise<string | undefined> {
  const [row] = await query<{ auth_code: string }>(sql`
    select auth_code from auth.flow_state
    where user_id = ${userId} and authentication_method = ${method}
    order by created_at desc limit 1`);
  return row?.auth_code;
}
