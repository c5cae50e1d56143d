import { createHash, randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { type GoogleAccount, StandInGoogle } from "../dev/stand-ins/google";
import { addMember, createUser, tokenFor } from "./support/helpers";
import { connectGoogle, startTestStack } from "./support/stack";

/**
 * Connecting a workspace's Google account through OAuth against the stand-in Google, which follows
 * Google's documented web-server flow (developers.google.com/identity/protocols/oauth2/web-server):
 * the consent URL (offline access, PKCE S256, the scopes the features need), the state used once and
 * bound to the member, the code exchanged with its verifier only, the refresh token sealed at rest,
 * refreshes, a refused refresh (`invalid_grant`, RFC 6749 §5.2) turning into needs_reconnect with an
 * alert, and a disconnect that revokes the token and stops the channel and the watch.
 */
const google = new StandInGoogle();
let dev: DevServer;
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");

beforeAll(async () => {
  await google.start();
  dev = await startTestStack({
    ...google.oauthEnv(),
    GMAIL_PUSH_TOPIC: "projects/stand-in/topics/gmail-push",
    EMAIL_MIN_GAP_SECONDS: "0",
    EMAIL_GAP_JITTER_SECONDS: "0",
  });
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
});

afterAll(async () => {
  await dev?.close();
  await google.close();
});

async function connectUrl(user: string) {
  const response = await fetch(`${dev.url}/api/google/connect?workspace_id=${user}`, {
    headers: { authorization: `Bearer ${await tokenFor(user)}`, accept: "application/json" },
  });
  return { status: response.status, body: (await response.json()) as { data?: { url: string } } };
}

async function connectionOf(workspaceId: string) {
  const sql = await service.serviceDb();
  const [row] = await sql
    .select()
    .from(db.googleConnections)
    .where(eq(db.googleConnections.workspace_id, workspaceId));
  return row;
}

/** The browser following the consent screen's redirect back to the callback (no redirects followed). */
async function followConsent(url: string, account: GoogleAccount) {
  const consent = new URL(url);
  consent.searchParams.set("login_hint", account.mailbox);
  const back = await fetch(consent, { redirect: "manual" });
  return new URL(back.headers.get("location") ?? "");
}

async function callback(back: URL) {
  return fetch(`${dev.url}${back.pathname}${back.search}`, { redirect: "manual" });
}

describe("connecting a Google account", () => {
  it("asks Google for offline access with PKCE and only the scopes the features need", async () => {
    const user = await createUser();
    const { status, body } = await connectUrl(user);
    expect(status).toBe(200);
    const url = new URL(body.data?.url ?? "");
    expect(`${url.origin}${url.pathname}`).toBe(`${google.oauthEnv().GOOGLE_OAUTH_AUTHORIZE_URL}`);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: google.clientId,
      redirect_uri: `${dev.url}/api/google/callback`,
      response_type: "code",
      access_type: "offline",
      prompt: "consent",
      code_challenge_method: "S256",
    });
    expect(url.searchParams.get("code_challenge")).toMatch(/^[\w-]{43}$/);
    expect(url.searchParams.get("scope")?.split(" ").sort()).toEqual(
      [
        "email",
        "openid",
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.freebusy",
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.send",
      ].sort(),
    );
    // A browser navigating there is redirected.
    const redirected = await fetch(`${dev.url}/api/google/connect?workspace_id=${user}`, {
      headers: { authorization: `Bearer ${await tokenFor(user)}` },
      redirect: "manual",
    });
    expect(redirected.status).toBe(302);
  });

  it("only owners and admins connect; a member is refused before Google is asked", async () => {
    const owner = await createUser();
    const member = await createUser();
    await addMember(owner, member, "member");
    const response = await fetch(`${dev.url}/api/google/connect?workspace_id=${owner}`, {
      headers: { authorization: `Bearer ${await tokenFor(member)}`, accept: "application/json" },
    });
    expect(response.status).toBe(403);
  });

  it("connects: the refresh token is stored sealed, opens only with the key and its own row, and a send refreshes it", async () => {
    const user = await createUser();
    const account = google.addAccount();
    const landed = await connectGoogle(dev, google, account, user);
    expect(`${landed.origin}${landed.pathname}`).toBe("https://app.example.com/settings/google");
    expect(landed.searchParams.get("google")).toBe("connected");
    expect(landed.searchParams.get("email")).toBe(account.mailbox);
    const row = await connectionOf(user);
    expect(row).toMatchObject({
      kind: "oauth",
      status: "active",
      email: account.mailbox,
      google_sub: account.sub,
    });
    const [issued] = [...account.refreshTokens];
    const ciphertext = row?.refresh_token_ciphertext ?? "";
    expect(ciphertext).toMatch(/^v1\.local1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(ciphertext).not.toContain(issued ?? "?");
    expect(Buffer.from(ciphertext.split(".")[4] ?? "", "base64url").toString("utf8")).not.toContain(
      issued ?? "?",
    );
    const { open, openWith } = await import("../lib/security/secret-box");
    expect(open(ciphertext, row?.id ?? "")).toBe(issued);
    // Bound to its row: copied onto another, it does not open.
    expect(open(ciphertext, randomUUID())).toBeUndefined();
    // Without the key (another key under the same id, or the id rotated out), it does not open.
    expect(openWith([{ id: "local1", key: Buffer.alloc(32, 9) }], ciphertext, row?.id ?? "")).toBeUndefined();
    expect(openWith([{ id: "other", key: Buffer.alloc(32, 9) }], ciphertext, row?.id ?? "")).toBeUndefined();
    // One altered byte of the ciphertext: refused (GCM's tag).
    const parts = ciphertext.split(".");
    const body = Buffer.from(parts[4] ?? "", "base64url");
    body[0] = (body[0] ?? 0) ^ 1;
    parts[4] = body.toString("base64url");
    expect(open(parts.join("."), row?.id ?? "")).toBeUndefined();
    // The API never shows it.
    const listed = await fetch(`${dev.url}/api/google/connections?workspace_id=${user}`, {
      headers: { authorization: `Bearer ${await tokenFor(user)}` },
    });
    const text = await listed.text();
    expect(text).toContain(account.mailbox);
    expect(text).not.toContain("ciphertext");
    expect(text).not.toContain(issued ?? "?");

    // Using the connection refreshes the access token with the stored refresh token.
    const before = account.accessTokens.size;
    dev.broker.triggerSchedule("gmail-watch");
    await dev.broker.settle(200, 60_000);
    expect(account.accessTokens.size).toBeGreaterThan(before);
    expect(account.watches.length).toBe(1);
  });

  it("refuses a replayed or forged state, a code from another flow, a refused consent and unticked scopes", async () => {
    const user = await createUser();
    const account = google.addAccount();
    const first = await connectUrl(user);
    const back = await followConsent(first.body.data?.url ?? "", account);

    // The state's HMAC altered: refused, and nothing is stored.
    const forged = new URL(back);
    forged.searchParams.set("state", `${back.searchParams.get("state")?.split(".")[0]}.${"A".repeat(43)}`);
    expect((await callback(forged)).status).toBe(400);

    // A code issued to another flow (another verifier) swapped in: Google refuses the exchange.
    const other = await connectUrl(user);
    const otherBack = await followConsent(other.body.data?.url ?? "", account);
    const swapped = new URL(back);
    swapped.searchParams.set("code", otherBack.searchParams.get("code") ?? "");
    const swappedAnswer = await callback(swapped);
    expect(swappedAnswer.status).toBe(400);
    expect(await connectionOf(user)).toBeUndefined();

    // The state is used once: the first callback for it (just above) took it.
    const replay = await callback(back);
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: { message: string } }).error.message).toMatch(
      /unknown, used or expired/,
    );

    google.consentDenied = true;
    const refused = await callback(
      await followConsent((await connectUrl(user)).body.data?.url ?? "", account),
    );
    google.consentDenied = false;
    expect(new URL(refused.headers.get("location") ?? "").searchParams.get("google")).toBe("refused");

    google.unticked = ["https://www.googleapis.com/auth/gmail.send"];
    const partial = await callback(
      await followConsent((await connectUrl(user)).body.data?.url ?? "", account),
    );
    google.unticked = [];
    const missing = new URL(partial.headers.get("location") ?? "");
    expect(missing.searchParams.get("google")).toBe("missing_scopes");
    expect(missing.searchParams.get("missing")).toContain("gmail.send");
    expect(account.revoked.length).toBeGreaterThan(0);
    expect(await connectionOf(user)).toBeUndefined();
  });

  it("an account connected to one workspace cannot be connected to another", async () => {
    const first = await createUser();
    const second = await createUser();
    const account = google.addAccount();
    await connectGoogle(dev, google, account, first);
    await expect(connectGoogle(dev, google, account, second)).rejects.toThrow(/409/);
    expect(await connectionOf(second)).toBeUndefined();
  });
});

describe("a refused refresh and a disconnect", () => {
  it("invalid_grant marks the connection needs_reconnect, alerts the admins once, and holds the mail; a reconnect resumes it", async () => {
    const owner = await createUser();
    const member = await createUser();
    await addMember(owner, member, "member");
    const account = google.addAccount();
    await connectGoogle(dev, google, account, owner);
    // The user removed the app's access in their Google account.
    account.revokeAll();
    dev.broker.triggerSchedule("gmail-watch");
    await dev.broker.settle(200, 60_000);
    dev.broker.triggerSchedule("gmail-watch");
    await dev.broker.settle(200, 60_000);
    const row = await connectionOf(owner);
    expect(row?.status).toBe("needs_reconnect");
    expect(row?.status_reason).toMatch(/invalid_grant/);
    const sql = await service.serviceDb();
    const alerts = await sql.select().from(db.alerts).where(eq(db.alerts.type, "google.reconnect_required"));
    expect(alerts.filter((alert) => alert.workspace_id === owner).map((alert) => alert.user_id)).toEqual([
      owner,
    ]);
    // Nothing is retried forever: the schedule's runs answered 200 (the admins must act).
    const runs = [...dev.broker.messages.values()].filter((m) => m.url.endsWith("/api/cron/gmail-watch"));
    expect(runs.flatMap((m) => m.attempts.map((a) => a.status)).every((status) => status === 200)).toBe(true);

    // An email of the workspace waits instead of going to the outbox.
    const [lead] = await sql
      .insert(db.leads)
      .values({
        workspace_id: owner,
        user_id: owner,
        name: "Ann",
        email: `ann-${randomUUID().slice(0, 6)}@cafe.example`,
      })
      .returning();
    const { sendingMailbox } = await import("../lib/email/mailboxes");
    const mailbox = await sendingMailbox(owner);
    expect(mailbox.kind).toBe("gmail");
    const [event] = await sql
      .insert(db.emailEvents)
      .values({
        workspace_id: owner,
        user_id: owner,
        lead_id: lead?.id,
        mailbox_id: mailbox.id,
        event_type: "queued",
        subject: "Hello",
        body_text: "Hi",
        body_html: "<p>Hi</p>",
        message_id: `<${randomUUID()}@stand-in-google.example>`,
      })
      .returning();
    const { deliverEmail } = await import("../lib/email/deliver");
    const held = await deliverEmail(event?.id ?? "");
    expect(held).toMatchObject({ outcome: "deferred", reason: "the Google account must be reconnected" });

    // Reconnecting the same account brings the same connection back.
    await connectGoogle(dev, google, account, owner);
    const back = await connectionOf(owner);
    expect(back).toMatchObject({ id: row?.id, status: "active" });
    const sent = await deliverEmail(event?.id ?? "");
    expect(sent.outcome).toBe("sent");
    expect(account.sent).toHaveLength(1);
  });

  it("a disconnect revokes the token at Google, stops the calendar channel and the Gmail watch, and cancels queued mail", async () => {
    const owner = await createUser();
    const account = google.addAccount();
    await connectGoogle(dev, google, account, owner);
    dev.broker.triggerSchedule("calendar-watch");
    await dev.broker.settle(200, 60_000);
    const channel = [...account.channels.values()].find((c) => !c.stopped);
    expect(channel).toBeTruthy();
    const row = await connectionOf(owner);
    const sql = await service.serviceDb();
    const { sendingMailbox } = await import("../lib/email/mailboxes");
    const mailbox = await sendingMailbox(owner);
    const [queued] = await sql
      .insert(db.emailEvents)
      .values({
        workspace_id: owner,
        user_id: owner,
        mailbox_id: mailbox.id,
        event_type: "queued",
        subject: "Later",
      })
      .returning();
    const [token] = [...account.refreshTokens];

    const member = await createUser();
    await addMember(owner, member, "member");
    const byMember = await fetch(`${dev.url}/api/google/connections/${row?.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${await tokenFor(member)}` },
    });
    expect(byMember.status).toBe(403);

    const response = await fetch(`${dev.url}/api/google/connections/${row?.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${await tokenFor(owner)}` },
    });
    expect(response.status).toBe(200);
    expect(account.revoked).toContain(token);
    expect(account.channels.get(channel?.id ?? "")?.stopped).toBe(true);
    expect(account.stops).toBe(1);
    const after = await connectionOf(owner);
    expect(after).toMatchObject({ status: "disconnected", refresh_token_ciphertext: null });
    const [event] = await sql
      .select()
      .from(db.emailEvents)
      .where(eq(db.emailEvents.id, queued?.id ?? ""));
    expect(event).toMatchObject({ event_type: "cancelled", error: "the sending mailbox was disconnected" });
    const [stoppedChannel] = await sql
      .select()
      .from(db.calendarChannels)
      .where(eq(db.calendarChannels.id, channel?.id ?? ""));
    expect(stoppedChannel?.status).toBe("stopped");
    // New mail of the workspace goes to its outbox again.
    expect((await sendingMailbox(owner)).kind).toBe("outbox");
    // The same account can now be connected to another workspace.
    const next = await createUser();
    await connectGoogle(dev, google, account, next);
    expect((await connectionOf(next))?.status).toBe("active");
  });

  it("the stand-in holds codes to PKCE as Google does: the verifier's S256 must match", async () => {
    const account = google.addAccount();
    google.redirectUris.add("https://client.example/cb");
    const verifier = "v".repeat(50);
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const authorize = new URL(google.oauthEnv().GOOGLE_OAUTH_AUTHORIZE_URL ?? "");
    for (const [key, value] of Object.entries({
      client_id: google.clientId,
      redirect_uri: "https://client.example/cb",
      response_type: "code",
      scope: "openid email",
      code_challenge: challenge,
      code_challenge_method: "S256",
      login_hint: account.mailbox,
    })) {
      authorize.searchParams.set(key, value);
    }
    const redirect = new URL((await fetch(authorize, { redirect: "manual" })).headers.get("location") ?? "");
    const exchange = (code_verifier: string) =>
      fetch(google.oauthEnv().GOOGLE_OAUTH_TOKEN_URL ?? "", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: redirect.searchParams.get("code") ?? "",
          code_verifier,
          redirect_uri: "https://client.example/cb",
          client_id: google.clientId,
          client_secret: google.clientSecret,
        }),
      });
    const wrong = await exchange("w".repeat(50));
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: "invalid_grant" });
    // A code is single-use: after a failed exchange it is spent.
    expect((await exchange(verifier)).status).toBe(400);
  });
});
