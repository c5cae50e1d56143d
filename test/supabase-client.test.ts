import { randomUUID } from "node:crypto";
import { createServerClient } from "@supabase/ssr";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { rotateRefreshToken } from "../dev/supabase/auth/store";
import type { Database } from "../supabase/database.types";
import { createUser, secrets, tokenFor } from "./support/helpers";
import { startTestStack } from "./support/stack";

/**
 * The frontend's half of the contract, driven with the clients the frontend uses (supabase-js and
 * @supabase/ssr) against the dev server's local Supabase: Auth (https://supabase.com/docs/reference/javascript/auth-signup
 * and the Auth API's error codes, https://supabase.com/docs/guides/auth/debugging/error-codes), PostgREST
 * through the gateway, and Realtime (https://supabase.com/docs/guides/realtime/postgres-changes).
 */
let dev: DevServer;
const frontend = "http://localhost:3000";
const password = "correct horse battery";

beforeAll(async () => {
  dev = await startTestStack(
    { FRONTEND_ORIGIN: `${frontend},http://127.0.0.1:3000` },
    // Replaying a rotated refresh token is detected at once (config.toml allows 10 s for two tabs).
    // This file signs up dozens of people from one address; the limits have their own test below.
    {
      authSettings: {
        refresh_token_reuse_interval: 0,
        rate_limit: { sign_in_sign_ups: 10_000, token_verifications: 10_000, token_refresh: 10_000 },
      },
    },
  );
});

afterAll(async () => {
  await dev?.close();
});

/** A browser's storage for one client: where supabase-js keeps the session and the PKCE verifier. */
function memoryStorage() {
  const storage = new Map<string, string>();
  return {
    getItem: (key: string) => storage.get(key) ?? null,
    setItem: (key: string, value: string) => void storage.set(key, value),
    removeItem: (key: string) => void storage.delete(key),
  };
}

function client(flowType: "implicit" | "pkce" = "implicit"): SupabaseClient<Database> {
  return createClient<Database>(dev.url, secrets.supabasePublishableKey, {
    auth: {
      flowType,
      persistSession: true,
      autoRefreshToken: false,
      detectSessionInUrl: false,
      storage: memoryStorage(),
    },
    // supabase-js reports a join TIMED_OUT after 10 s by default, which a loaded machine can take;
    // a safety net a minute long (SUBSCRIBED is the signal).
    realtime: { timeout: 60_000 },
  });
}

const address = () => `person-${randomUUID().slice(0, 8)}@example.test`;

/** Signs up, confirms with the emailed code, and answers the signed-in client. */
async function signedUp(email = address()) {
  const supabase = client();
  const { data, error } = await supabase.auth.signUp({ email, password });
  expect(error, JSON.stringify(error)).toBeNull();
  expect(data.session).toBeNull();
  const mail = dev.authMail.latest(email);
  expect(mail?.kind).toBe("signup");
  const verified = await supabase.auth.verifyOtp({ email, token: mail?.otp ?? "", type: "signup" });
  expect(verified.error, JSON.stringify(verified.error)).toBeNull();
  const userId = verified.data.user?.id ?? "";
  return { supabase, email, userId, session: verified.data.session };
}

describe("Auth (/auth/v1)", () => {
  it("sign-up sends a confirmation; the password works only once the address is confirmed", async () => {
    const email = address();
    const supabase = client();
    const { data, error } = await supabase.auth.signUp({ email, password });
    expect(error).toBeNull();
    expect(data.user?.email).toBe(email);
    expect(data.session).toBeNull();
    const early = await supabase.auth.signInWithPassword({ email, password });
    expect(early.error?.code).toBe("email_not_confirmed");
    expect(early.error?.status).toBe(400);

    const mail = dev.authMail.latest(email);
    expect(mail?.otp).toMatch(/^\d{6}$/);
    const wrong = await supabase.auth.verifyOtp({
      email,
      token: "000000" === mail?.otp ? "111111" : "000000",
      type: "signup",
    });
    expect(wrong.error?.code).toBe("otp_expired");
    const confirmed = await supabase.auth.verifyOtp({ email, token: mail?.otp ?? "", type: "signup" });
    expect(confirmed.error).toBeNull();
    // The code works once.
    const again = await client().auth.verifyOtp({ email, token: mail?.otp ?? "", type: "signup" });
    expect(again.error?.code).toBe("otp_expired");

    const signedIn = await client().auth.signInWithPassword({ email, password });
    expect(signedIn.error).toBeNull();
    const session = signedIn.data.session;
    expect(session?.token_type).toBe("bearer");
    expect(session?.user.email).toBe(email);
    // The session is one the API accepts: the sign-up made the user's personal workspace.
    const workspaces = await fetch(`${dev.url}/api/workspaces`, {
      headers: { authorization: `Bearer ${session?.access_token}` },
    });
    const body = await workspaces.json();
    expect(workspaces.status, JSON.stringify(body)).toBe(200);
    expect(JSON.stringify(body.data)).toContain(session?.user.id);
  });

  it("refuses a wrong password, a short password, a malformed address and anonymous sign-ins as the project does", async () => {
    const { email } = await signedUp();
    const supabase = client();
    const wrong = await supabase.auth.signInWithPassword({ email, password: "not the password" });
    expect([wrong.error?.status, wrong.error?.code]).toEqual([400, "invalid_credentials"]);
    const nobody = await supabase.auth.signInWithPassword({ email: address(), password });
    expect(nobody.error?.code).toBe("invalid_credentials");
    const short = await supabase.auth.signUp({ email: address(), password: "short" });
    expect([short.error?.status, short.error?.code]).toEqual([422, "weak_password"]);
    const malformed = await supabase.auth.signUp({ email: "not-an-address", password });
    expect([malformed.error?.status, malformed.error?.code]).toEqual([400, "validation_failed"]);
    const anonymous = await supabase.auth.signInAnonymously();
    expect([anonymous.error?.status, anonymous.error?.code]).toEqual([422, "anonymous_provider_disabled"]);
    // Signing up again with a confirmed address reveals nothing (a made-up user) and sends nothing.
    const sent = dev.authMail.sent.length;
    const real = await client().auth.signInWithPassword({ email, password });
    const repeat = await supabase.auth.signUp({ email, password, options: { data: { probe: true } } });
    expect(repeat.error).toBeNull();
    expect(repeat.data.user?.identities).toEqual([]);
    expect(repeat.data.user?.id).not.toBe(real.data.user?.id);
    expect(repeat.data.user?.user_metadata).toEqual({ probe: true });
    expect(repeat.data.user?.email_confirmed_at).toBeUndefined();
    expect(dev.authMail.sent.length).toBe(sent);
    // bcrypt reads 72 bytes: a longer password is refused rather than silently cut.
    const long = await supabase.auth.signUp({ email: address(), password: "x".repeat(73) });
    expect([long.error?.status, long.error?.code]).toEqual([400, "validation_failed"]);
    const nul = await supabase.auth.signInWithPassword({ email, password: "a\u0000b" });
    expect([nul.error?.status, nul.error?.code]).toEqual([400, "validation_failed"]);
  });

  it("rotates refresh tokens; a replayed one ends the session", async () => {
    const { supabase, session } = await signedUp();
    const first = session?.refresh_token ?? "";
    const refreshed = await supabase.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    const second = refreshed.data.session?.refresh_token ?? "";
    expect(second).not.toBe(first);
    expect(refreshed.data.session?.access_token).not.toBe(session?.access_token);
    const user = await supabase.auth.getUser();
    expect(user.data.user?.id).toBe(session?.user.id);

    // The first token again, after the reuse interval (0 here): a stolen token; the session ends.
    const replay = await client().auth.refreshSession({ refresh_token: first });
    expect(replay.error?.code).toBe("refresh_token_already_used");
    const after = await client().auth.refreshSession({ refresh_token: second });
    expect(after.error?.code).toBe("refresh_token_not_found");
  });

  it("within the reuse interval a rotated token answers the session's current one (two tabs refreshing at once)", async () => {
    const { session } = await signedUp();
    const first = session?.refresh_token ?? "";
    const rotated = await rotateRefreshToken(first, 10);
    expect(rotated.ok).toBe(true);
    const again = await rotateRefreshToken(first, 10);
    expect(again).toEqual(rotated);
  });

  it("sign-out ends the session: its refresh token is dead and /user refuses its access token", async () => {
    const { supabase, session } = await signedUp();
    const { error } = await supabase.auth.signOut();
    expect(error).toBeNull();
    const refresh = await client().auth.refreshSession({ refresh_token: session?.refresh_token ?? "" });
    expect(refresh.error?.code).toBe("refresh_token_not_found");
    const user = await client().auth.getUser(session?.access_token);
    expect(user.error?.name).toBe("AuthSessionMissingError");
  });

  it("a new password ends the user's other sessions and voids their refresh tokens; the same password is refused", async () => {
    const { supabase, email } = await signedUp();
    const other = client();
    const stolen = await other.auth.signInWithPassword({ email, password });
    expect(stolen.error).toBeNull();
    const same = await supabase.auth.updateUser({ password });
    expect([same.error?.status, same.error?.code]).toEqual([422, "same_password"]);
    const changed = await supabase.auth.updateUser({ password: "a brand new passphrase" });
    expect(changed.error).toBeNull();
    // The session that changed it goes on; the other one is over.
    expect((await supabase.auth.getUser()).data.user?.email).toBe(email);
    const refresh = await client().auth.refreshSession({
      refresh_token: stolen.data.session?.refresh_token ?? "",
    });
    expect(refresh.error?.code).toBe("refresh_token_not_found");
    expect((await client().auth.getUser(stolen.data.session?.access_token)).error?.name).toBe(
      "AuthSessionMissingError",
    );
    const old = await client().auth.signInWithPassword({ email, password });
    expect(old.error?.code).toBe("invalid_credentials");
  });

  it("a code requested for an address never confirmed is the sign-up confirmation, not a magic link", async () => {
    // An address signs up by code alone: the user exists, unconfirmed, until the code is entered.
    const other = address();
    const started = await client().auth.signInWithOtp({ email: other });
    expect(started.error).toBeNull();
    expect(dev.authMail.latest(other)?.kind).toBe("signup");
    const wrongType = await client().auth.verifyOtp({
      email: other,
      token: dev.authMail.latest(other)?.otp ?? "",
      type: "magiclink",
    });
    expect(wrongType.error?.code).toBe("otp_expired");
    const confirmed = await client().auth.verifyOtp({
      email: other,
      token: dev.authMail.latest(other)?.otp ?? "",
      type: "email",
    });
    expect(confirmed.error).toBeNull();
  });

  it("a magic link or its code signs in, once; a second request within a minute is refused", async () => {
    const { email } = await signedUp();
    const supabase = client();
    const sent = await supabase.auth.signInWithOtp({ email, options: { shouldCreateUser: false } });
    expect(sent.error).toBeNull();
    const mail = dev.authMail.latest(email);
    expect(mail?.kind).toBe("magiclink");
    const tooSoon = await supabase.auth.signInWithOtp({ email });
    expect([tooSoon.error?.status, tooSoon.error?.code]).toEqual([429, "over_email_send_rate_limit"]);
    const verified = await supabase.auth.verifyOtp({ email, token: mail?.otp ?? "", type: "email" });
    expect(verified.error).toBeNull();
    expect(verified.data.session?.user.email).toBe(email);
    const unknown = await client().auth.signInWithOtp({
      email: address(),
      options: { shouldCreateUser: false },
    });
    expect([unknown.error?.status, unknown.error?.code]).toEqual([422, "otp_disabled"]);
  });

  it("the emailed link redirects to the frontend with a session (implicit) or a code to exchange (PKCE)", async () => {
    const { email } = await signedUp();
    await client().auth.signInWithOtp({ email, options: { emailRedirectTo: `${frontend}/welcome` } });
    const implicit = await fetch(dev.authMail.latest(email)?.link ?? "", { redirect: "manual" });
    expect(implicit.status).toBe(303);
    const landed = new URL(implicit.headers.get("location") ?? "");
    expect(landed.origin + landed.pathname).toBe(`${frontend}/welcome`);
    const fragment = new URLSearchParams(landed.hash.slice(1));
    expect(fragment.get("type")).toBe("magiclink");
    const fromLink = await client().auth.setSession({
      access_token: fragment.get("access_token") ?? "",
      refresh_token: fragment.get("refresh_token") ?? "",
    });
    expect(fromLink.error).toBeNull();
    expect(fromLink.data.user?.email).toBe(email);

    // additional_redirect_urls are globs: any path under http://127.0.0.1:3000/ is allowed.
    const { email: third } = await signedUp();
    await client().auth.signInWithOtp({
      email: third,
      options: { emailRedirectTo: "http://127.0.0.1:3000/deep/page" },
    });
    const allowed = await fetch(dev.authMail.latest(third)?.link ?? "", { redirect: "manual" });
    expect(new URL(allowed.headers.get("location") ?? "").pathname).toBe("/deep/page");
    // A link followed twice has expired; a redirect elsewhere goes to the site instead.
    const twice = await fetch(dev.authMail.latest(email)?.link ?? "", { redirect: "manual" });
    expect(new URL(twice.headers.get("location") ?? "").hash).toContain("error_code=otp_expired");

    const { email: other } = await signedUp();
    const pkce = client("pkce");
    const started = await pkce.auth.signInWithOtp({
      email: other,
      options: { emailRedirectTo: "https://elsewhere.example/steal" },
    });
    expect(started.error).toBeNull();
    const followed = await fetch(dev.authMail.latest(other)?.link ?? "", { redirect: "manual" });
    const back = new URL(followed.headers.get("location") ?? "");
    expect(back.origin).toBe(frontend);
    const code = back.searchParams.get("code") ?? "";
    expect(code).not.toBe("");
    const exchanged = await pkce.auth.exchangeCodeForSession(code);
    expect(exchanged.error).toBeNull();
    expect(exchanged.data.user?.email).toBe(other);
    // A code without the verifier that started the flow is refused.
    const stolen = await client().auth.exchangeCodeForSession(code);
    expect(stolen.error).not.toBeNull();
  });

  it("@supabase/ssr: a server client keeps the session in cookies and reads it back on the next request", async () => {
    const { email } = await signedUp();
    const jar = new Map<string, string>();
    const server = () =>
      createServerClient<Database>(dev.url, secrets.supabasePublishableKey, {
        cookies: {
          getAll: () => [...jar].map(([name, value]) => ({ name, value })),
          setAll: (cookies) => {
            for (const { name, value } of cookies) {
              if (value) {
                jar.set(name, value);
              } else {
                jar.delete(name);
              }
            }
          },
        },
      });
    const signedIn = await server().auth.signInWithPassword({ email, password });
    expect(signedIn.error).toBeNull();
    expect([...jar.keys()].some((name) => name.startsWith("sb-"))).toBe(true);
    const next = await server().auth.getUser();
    expect(next.data.user?.email).toBe(email);
    const { data: workspaces } = await server().from("workspaces").select("id");
    expect(workspaces?.map((row) => row.id)).toContain(signedIn.data.user?.id);
  });

  it("the gateway asks for the publishable key and answers CORS for the frontend's origins only", async () => {
    const none = await fetch(`${dev.url}/rest/v1/leads`);
    expect(none.status).toBe(401);
    expect((await none.json()).message).toBe("No API key found in request");
    const wrong = await fetch(`${dev.url}/auth/v1/settings`, { headers: { apikey: "sb_publishable_wrong" } });
    expect(wrong.status).toBe(401);
    for (const origin of [frontend, "http://127.0.0.1:3000"]) {
      const preflight = await fetch(`${dev.url}/auth/v1/token?grant_type=password`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers":
            "apikey, authorization, content-type, x-client-info, x-supabase-api-version",
        },
      });
      expect(preflight.status).toBeLessThan(300);
      expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
      expect(preflight.headers.get("access-control-allow-headers")).toContain("apikey");
    }
    const stranger = await fetch(`${dev.url}/rest/v1/leads`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    expect(stranger.headers.get("access-control-allow-origin")).toBeNull();
    const jwks = await fetch(`${dev.url}/auth/v1/.well-known/jwks.json`, { headers: { origin: frontend } });
    expect(jwks.headers.get("access-control-allow-origin")).toBe(frontend);
    expect((await jwks.json()).keys).toHaveLength(1);
  });

  it("any input to /auth/v1 gets a 4xx in the Auth error shape, never a 5xx", async () => {
    const headers = { apikey: secrets.supabasePublishableKey, "content-type": "application/json" };
    const cases: [string, string, string | undefined][] = [
      ["POST", "/auth/v1/token?grant_type=password", "{"],
      ["POST", "/auth/v1/token?grant_type=password", "[]"],
      ["POST", "/auth/v1/token?grant_type=bogus", "{}"],
      ["POST", "/auth/v1/token?grant_type=refresh_token", '{"refresh_token":42}'],
      ["POST", "/auth/v1/token?grant_type=pkce", '{"auth_code":"x","code_verifier":"y"}'],
      ["POST", "/auth/v1/signup", '{"email":"a@b.c","password":null}'],
      ["POST", "/auth/v1/otp", '{"email":[]}'],
      ["POST", "/auth/v1/verify", '{"type":"nope","token_hash":"x"}'],
      ["POST", "/auth/v1/verify", '{"type":"email"}'],
      ["GET", "/auth/v1/user", undefined],
      ["POST", "/auth/v1/logout", "{}"],
      ["DELETE", "/auth/v1/user", undefined],
      ["GET", "/auth/v1/nowhere", undefined],
    ];
    for (const [method, path, body] of cases) {
      const response = await fetch(`${dev.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      });
      const text = await response.text();
      expect(response.status, `${method} ${path}: ${text}`).toBeGreaterThanOrEqual(400);
      expect(response.status, `${method} ${path}: ${text}`).toBeLessThan(500);
      expect(JSON.parse(text), `${method} ${path}`).toMatchObject({
        code: response.status,
        error_code: expect.any(String),
      });
    }
  });
});

describe("REST and Realtime through the gateway, as the signed-in frontend", () => {
  it("reads its workspace's rows and nothing of another workspace", async () => {
    const { supabase, userId } = await signedUp();
    const stranger = await createUser();
    const db = await import("../lib/db/service").then((m) => m.serviceDb());
    const { sql } = await import("drizzle-orm");
    for (const [owner, name] of [
      [userId, "Mine Ltd"],
      [stranger, "Theirs Ltd"],
    ] as const) {
      await db.execute(
        sql`insert into public.leads (workspace_id, user_id, name, company, email) values (${owner}, ${owner}, ${name}, ${name}, ${`${randomUUID().slice(0, 6)}@${name.split(" ")[0]?.toLowerCase()}.example`})`,
      );
    }
    const { data, error, count } = await supabase
      .from("leads")
      .select("company, workspace_id", { count: "exact" })
      .order("created_at", { ascending: false });
    expect(error, JSON.stringify(error)).toBeNull();
    expect(count).toBe(1);
    expect(data?.map((row) => row.company)).toEqual(["Mine Ltd"]);
    const theirs = await supabase.from("leads").select("id").eq("workspace_id", stranger);
    expect(theirs.data).toEqual([]);
  });

  it("reads every table the grants let the browser read, each with the columns it may see; the rest are refused", async () => {
    const { supabase } = await signedUp();
    const { serviceDb } = await import("../lib/db/service");
    const { rowsOf } = await import("../lib/db/client");
    const { sql } = await import("drizzle-orm");
    const grants = rowsOf<{ table_name: string; columns: string[] | null }>(
      await (await serviceDb()).execute(sql`
        select t.table_name,
          array_agg(c.column_name::text order by c.ordinal_position)
            filter (where has_column_privilege('authenticated', format('public.%I', t.table_name), c.column_name, 'SELECT')) as columns
        from information_schema.tables t
        join information_schema.columns c on c.table_schema = t.table_schema and c.table_name = t.table_name
        where t.table_schema = 'public'
        group by t.table_name order by t.table_name`),
    );
    expect(grants.length).toBeGreaterThan(10);
    const untyped = supabase as unknown as SupabaseClient;
    for (const { table_name: table, columns } of grants) {
      const result = await untyped
        .from(table)
        .select(columns?.join(",") ?? "*")
        .limit(5);
      if (columns) {
        expect(result.error, `${table}: ${JSON.stringify(result.error)}`).toBeNull();
        expect(result.status, table).toBe(200);
      } else {
        expect([result.status, result.error?.code], table).toEqual([403, "42501"]);
      }
    }
  });

  it("every column the grants keep from the browser is refused through REST, as through SQL", async () => {
    const { supabase, userId } = await signedUp();
    const { asUser } = await import("../lib/db/as-user");
    const { serviceDb } = await import("../lib/db/service");
    const { rowsOf } = await import("../lib/db/client");
    const { sql } = await import("drizzle-orm");
    const columns = rowsOf<{ table_name: string; column_name: string; may_update: boolean; key: string }>(
      await (await serviceDb()).execute(sql`
        select c.relname as table_name, a.attname as column_name,
          has_column_privilege('authenticated', c.oid, a.attnum, 'UPDATE') as may_update,
          (select k.attname from pg_catalog.pg_index i
            join pg_catalog.pg_attribute k on k.attrelid = i.indrelid and k.attnum = i.indkey[0]
            where i.indrelid = c.oid and i.indisprimary) as key
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'public' and c.relkind in ('r', 'p')
          and has_table_privilege('authenticated', c.oid, 'SELECT')
        order by 1, 2`),
    );
    const untyped = supabase as unknown as SupabaseClient;
    const refused = columns.filter((column) => !column.may_update);
    expect(refused.length).toBeGreaterThan(50);
    for (const { table_name: table, column_name: column, may_update: mayUpdate, key } of columns) {
      // The privilege is checked before any row is looked at: the filter (the key is null) matches none.
      const result = await untyped
        .from(table)
        .update({ [column]: null })
        .is(key, null);
      if (mayUpdate) {
        expect(result.error?.code, `${table}.${column}: ${JSON.stringify(result.error)}`).not.toBe("42501");
      } else {
        expect(
          [result.status, result.error?.code],
          `${table}.${column}: ${JSON.stringify(result.error)}`,
        ).toEqual([403, "42501"]);
        const direct = await asUser({ id: userId }, (tx) =>
          tx.execute(sql.raw(`update public."${table}" set "${column}" = null where "${key}" is null`)),
        ).then(
          () => "",
          (error: { cause?: { message?: string }; message: string }) => error.cause?.message ?? error.message,
        );
        expect(direct, `${table}.${column} through SQL`).toMatch(/permission denied/);
      }
    }
  });

  it("a forbidden write is refused through REST as it is through SQL", async () => {
    const { supabase, userId } = await signedUp();
    const forged = await supabase.from("agent_tasks").insert({
      workspace_id: userId,
      user_id: userId,
      agent_name: "engineer",
      status: "completed",
      input: {},
    });
    expect(forged.error, JSON.stringify(forged)).not.toBeNull();
    expect(forged.status).toBeGreaterThanOrEqual(400);
    expect(forged.status).toBeLessThan(500);
    const other = await createUser();
    const intoOther = await supabase
      .from("agent_tasks")
      .insert({ workspace_id: other, user_id: other, agent_name: "engineer", input: { prompt: "x" } });
    expect(intoOther.error?.code, JSON.stringify(intoOther)).toBe("42501");
    expect(intoOther.status).toBe(403);
  });

  it("a task inserted as queued runs to completed, followed live; a stranger's subscription sees none of it", async () => {
    const { supabase, userId } = await signedUp();
    const { supabase: strangerClient, userId: strangerId } = await signedUp();
    const mine: { status: string; eventType: string }[] = [];
    const theirs: unknown[] = [];
    const subscribed = (channel: ReturnType<SupabaseClient["channel"]>) =>
      new Promise<void>((resolve, reject) => {
        channel.subscribe((status, error) => {
          if (status === "SUBSCRIBED") {
            resolve();
          } else if (status === "CHANNEL_ERROR" || status === "TIMED_OUT") {
            reject(new Error(`${status}: ${String(error)}`));
          }
        });
      });
    let completed: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      completed = resolve;
    });
    const channel = supabase
      .channel(`tasks-${userId}`)
      .on(
        "postgres_changes",
        { event: "*", schema: "public", table: "agent_tasks", filter: `workspace_id=eq.${userId}` },
        (payload) => {
          const status = String((payload.new as { status?: string }).status);
          mine.push({ status, eventType: payload.eventType });
          if (status === "completed" || status === "failed") {
            completed();
          }
        },
      );
    const spy = strangerClient
      .channel(`spy-${strangerId}`)
      .on("postgres_changes", { event: "*", schema: "public", table: "agent_tasks" }, (payload) => {
        theirs.push(payload.new);
      });
    await subscribed(channel);
    await subscribed(spy);

    const { data: task, error } = await supabase
      .from("agent_tasks")
      .insert({
        workspace_id: userId,
        agent_name: "engineer",
        input: { prompt: "Write a haiku about queues" },
      })
      .select("id, status, workspace_id")
      .single();
    expect(error, JSON.stringify(error)).toBeNull();
    expect(task?.status).toBe("queued");
    expect(task?.workspace_id).toBe(userId);
    await done;
    expect(mine[0]).toEqual({ status: "queued", eventType: "INSERT" });
    expect(mine.at(-1)?.status, JSON.stringify(mine)).toBe("completed");
    const { data: stored } = await supabase
      .from("agent_tasks")
      .select("status, output")
      .eq("id", task?.id ?? "")
      .single();
    expect(stored?.status).toBe("completed");

    // The stranger's own task arrives on their subscription; nothing of the first workspace came before it.
    await strangerClient
      .from("agent_tasks")
      .insert({ workspace_id: strangerId, agent_name: "engineer", input: { prompt: "Mine only" } });
    // Bounded at about two minutes: a safety net; the arrival is the signal.
    for (let i = 0; i < 2400 && theirs.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(theirs.length).toBeGreaterThan(0);
    expect(
      theirs.every((row) => (row as { workspace_id: string }).workspace_id === strangerId),
      JSON.stringify(theirs),
    ).toBe(true);
    await supabase.removeAllChannels();
    await strangerClient.removeAllChannels();
  }, 180_000);

  it("an access token from `tokenFor` (npm run token) is accepted by REST, as any signed session is", async () => {
    const user = await createUser();
    const supabase = createClient<Database>(dev.url, secrets.supabasePublishableKey, {
      auth: { persistSession: false, autoRefreshToken: false },
      global: { headers: { Authorization: `Bearer ${await tokenFor(user)}` } },
    });
    const { data, error } = await supabase.from("workspaces").select("id");
    expect(error).toBeNull();
    expect(data?.map((row) => row.id)).toEqual([user]);
  });
});

describe("Auth's rate limits ([auth.rate_limit] of config.toml)", () => {
  it("code checks beyond the limit per client are refused with 429 before they are checked", async () => {
    const { localAuth } = await import("../dev/supabase/auth/server");
    const { loadAuthSettings } = await import("../dev/supabase/auth/settings");
    const { AuthMailer } = await import("../dev/supabase/auth/mail");
    const settings = loadAuthSettings();
    expect(settings.rate_limit).toEqual({
      sign_in_sign_ups: 30,
      token_verifications: 30,
      token_refresh: 150,
    });
    const auth = localAuth({
      keys: secrets.auth,
      settings: { ...settings, rate_limit: { ...settings.rate_limit, token_verifications: 3 } },
      mailer: new AuthMailer({ outboxDir: `${process.env.TMPDIR ?? "/tmp"}/aat-auth-outbox`, print: false }),
      issuerBase: () => dev.url,
      publicUrl: dev.url,
    });
    const guess = (client: string) =>
      auth(
        new Request(`${dev.url}/auth/v1/verify`, {
          method: "POST",
          // A client cannot pick its address: the header is ignored, the connection's counts.
          headers: { "content-type": "application/json", "x-forwarded-for": `198.51.100.${Math.random()}` },
          body: JSON.stringify({ type: "email", email: "someone@example.test", token: "123456" }),
        }),
        "/verify",
        client,
      );
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await guess("203.0.113.7")).status);
    }
    expect(statuses).toEqual([403, 403, 403, 429, 429]);
    const limited = await (await guess("203.0.113.7")).json();
    expect(limited).toMatchObject({ error_code: "over_request_rate_limit" });
    // Another client has its own allowance.
    expect((await guess("203.0.113.8")).status).toBe(403);
  });
});
