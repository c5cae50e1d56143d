import { randomUUID } from "node:crypto";
import { and, eq, inArray } from "drizzle-orm";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { type GoogleAccount, StandInGoogle } from "../dev/stand-ins/google";
import { dsnArrival } from "./support/dsn";
import { createUser, expectCompliantMessage, tokenFor } from "./support/helpers";
import { model } from "./support/model";
import { newBusiness, startTestStack } from "./support/stack";

/**
 * Outbound email end to end through the dev server and a stand-in Gmail API: drafts from lead data,
 * approval, paced QStash jobs, the worker's at-most-once send with the send-time checks, Gmail's
 * rate and quota errors, and a send whose answer was lost found again in Sent. Each business is a
 * workspace with its own Google account, connected through the OAuth consent flow; one workspace
 * uses the environment's account (the documented GMAIL_* shortcut), through the same code path.
 */
let dev: DevServer;
const gmail = new StandInGoogle();
gmail.mailbox = "sam@northwind-roasters.com";
/** The workspace the environment's account (GMAIL_*) belongs to. */
const shortcutWorkspace = randomUUID();
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");

beforeAll(async () => {
  await gmail.start();
  dev = await startTestStack({
    ...gmail.credentials(shortcutWorkspace),
    GMAIL_SENDER_NAME: "Sam at Northwind Roasters",
    EMAIL_MIN_GAP_SECONDS: "0",
    EMAIL_GAP_JITTER_SECONDS: "0",
    EMAIL_HOURLY_CAP: "500",
    EMAIL_DAILY_CAP: "2000",
    EMAIL_RAMP_START: "2000",
    GMAIL_PUSH_TOPIC: "projects/stand-in/topics/gmail-push",
    GMAIL_PUSH_AUDIENCE: "https://app.example.com/webhook/email",
    GMAIL_PUSH_SERVICE_ACCOUNT: "gmail-push@stand-in.iam.gserviceaccount.com",
  });
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
  await createUser("sam@northwind-roasters.com", shortcutWorkspace);
});

/** A new business: a user whose workspace has its own stand-in Google account, connected by OAuth. */
const business = () => newBusiness(dev, gmail);

afterAll(async () => {
  await dev?.close();
  await gmail.close();
});

async function leadsFor(user: string, count: number, workspace = user) {
  const sql = await service.serviceDb();
  return sql
    .insert(db.leads)
    .values(
      Array.from({ length: count }, (_, i) => ({
        workspace_id: workspace,
        user_id: user,
        name: `Owner ${i}`,
        email: `owner${i}-${randomUUID().slice(0, 6)}@cafe${i}.example`,
        company: `Cafe ${i}`,
        role: "Owner",
        score: 80,
      })),
    )
    .returning();
}

async function agent(user: string, body: Record<string, unknown>) {
  const response = await fetch(`${dev.url}/api/agents/outbound-emailer`, {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" },
    body: JSON.stringify({ user_id: user, ...body }),
  });
  return { status: response.status, body: await response.json() };
}

async function events(ids: string[]) {
  const sql = await service.serviceDb();
  return sql.select().from(db.emailEvents).where(inArray(db.emailEvents.id, ids));
}

/** Delivers a job to the worker the way QStash does (signed for the worker's URL). */
async function deliver(eventId: string, messageId = `msg_${randomUUID()}`) {
  const body = JSON.stringify({ event_id: eventId });
  const url = `${process.env.APP_URL}/api/workers/email`;
  const response = await fetch(`${dev.url}/api/workers/email`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "upstash-signature": await dev.broker.sign(url, body, `jwt_${randomUUID()}`),
      "upstash-message-id": messageId,
    },
    body,
  });
  return { status: response.status, body: await response.json() };
}

/** A new business with one lead and the agent's draft to it. */
async function draftForNewLead() {
  const { user, account } = await business();
  const [lead] = await leadsFor(user, 1);
  const drafted = await agent(user, { lead_ids: [lead?.id] });
  const id: string = drafted.body.data.result.emails[0].id;
  return { user, account, lead, id };
}

/** One lead's draft, approved (as the frontend's approve button leaves it), not yet queued. */
async function approvedDraft() {
  const { user, account, lead, id } = await draftForNewLead();
  const sql = await service.serviceDb();
  await sql.update(db.emailEvents).set({ event_type: "approved" }).where(eq(db.emailEvents.id, id));
  return { user, account, lead, id };
}

/** What every account of the stand-in sent to an address. */
const sentTo = (address: string | null) =>
  gmail.accounts.flatMap((account) => account.sent).filter((message) => message.to?.includes(address ?? "?"));

async function mailboxOf(account: GoogleAccount) {
  const sql = await service.serviceDb();
  const [mailbox] = await sql.select().from(db.mailboxes).where(eq(db.mailboxes.address, account.mailbox));
  return mailbox;
}

describe("outbound email", () => {
  it("drafts from the lead's own data, lists the facts, and sends nothing in draft mode", async () => {
    const { user } = await business();
    const [lead] = await leadsFor(user, 1);
    const { status, body } = await agent(user, { lead_ids: [lead?.id] });
    expect(status).toBe(200);
    const [email] = body.data.result.emails;
    expect(email).toMatchObject({ to: lead?.email, status: "drafted", needs_review: false });
    expect(email.facts_used).toEqual(["Cafe 0", "Owner"]);
    const [row] = await events([email.id]);
    expect(row?.event_type).toBe("drafted");
    expect(row?.body_text).toContain("Cafe 0");
    await dev.broker.settle(200, 60_000);
    expect(sentTo(lead?.email ?? null)).toHaveLength(0);
  });

  it("drafted → approved → sent once per lead, even with each job delivered three times at once (the GMAIL_* shortcut's account)", async () => {
    const user = await createUser();
    const { addMember } = await import("./support/helpers");
    await addMember(shortcutWorkspace, user, "member");
    const leads = await leadsFor(user, 3, shortcutWorkspace);
    const drafted = await agent(user, {
      workspace_id: shortcutWorkspace,
      lead_ids: leads.map((lead) => lead.id),
    });
    const ids: string[] = drafted.body.data.result.emails.map((email: { id: string }) => email.id);
    expect(ids).toHaveLength(3);

    const approved = await agent(user, { workspace_id: shortcutWorkspace, event_ids: ids, mode: "send" });
    expect(approved.status).toBe(200);
    expect(approved.body.data.result.emails).toHaveLength(3);
    // Three concurrent deliveries of every job, racing the broker's own.
    await Promise.all(ids.flatMap((id) => [deliver(id), deliver(id), deliver(id)]));
    await dev.broker.settle(200, 60_000);

    for (const lead of leads) {
      expect(sentTo(lead.email)).toHaveLength(1);
    }
    const rows = await events(ids);
    expect(rows.map((row) => row.event_type)).toEqual(["sent", "sent", "sent"]);
    for (const row of rows) {
      const message = gmail.sent.find((m) => m.id === row.gmail_message_id);
      expect(message?.messageId).toBe(row.message_id);
      const parsed = await simpleParser(message?.mime ?? "");
      expect(parsed.headerLines.find((h) => h.key === "list-unsubscribe-post")?.line).toBe(
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
      );
      expect(parsed.headerLines.find((h) => h.key === "list-unsubscribe")?.line).toMatch(
        /^List-Unsubscribe: <http:\/\/127\.0\.0\.1:\d+\/api\/unsubscribe\?token=[\w-]+\.[\w-]+>, <mailto:sam@northwind-roasters\.com\?subject=unsubscribe>$/,
      );
      expect(parsed.text).toContain("Unsubscribe:");
      expect(parsed.from?.text).toBe('"Sam at Northwind Roasters" <sam@northwind-roasters.com>');
      await expectCompliantMessage(message?.mime ?? "");
    }
    const sql = await service.serviceDb();
    const contacted = await sql.select().from(db.leads).where(eq(db.leads.user_id, user));
    expect(contacted.map((lead) => lead.status)).toEqual(["contacted", "contacted", "contacted"]);
    expect(rows.every((row) => row.workspace_id === shortcutWorkspace)).toBe(true);
  });

  it("an unsubscribe click before the send suppresses the address: the queued email is cancelled", async () => {
    const { user, lead, id } = await draftForNewLead();
    const { unsubscribeUrl } = await import("../lib/email/unsubscribe");
    const link = unsubscribeUrl({
      workspaceId: user,
      userId: user,
      leadId: lead?.id ?? null,
      email: lead?.email ?? "",
    });
    const click = await fetch(`${dev.url}${new URL(link).pathname}${new URL(link).search}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    expect(click.status).toBe(200);
    // Approved after the click: the enqueue does not check, the send does.
    const sql = await service.serviceDb();
    await sql.update(db.emailEvents).set({ event_type: "approved" }).where(eq(db.emailEvents.id, id));
    const { queueEmails } = await import("../lib/email/queueing");
    await queueEmails(user, [id]);
    await dev.broker.settle(200, 60_000);
    const [row] = await events([id]);
    expect(row?.event_type).toBe("cancelled");
    expect(row?.error).toContain("suppressed");
    expect(sentTo(lead?.email ?? null)).toHaveLength(0);
  });

  /** A business with `count` emails queued without a job, so only hand deliveries meet the faults. */
  async function queuedBy(count: number) {
    const { user, account } = await business();
    const leads = await leadsFor(user, count);
    const drafted = await agent(user, { lead_ids: leads.map((lead) => lead.id) });
    const ids: string[] = drafted.body.data.result.emails.map((email: { id: string }) => email.id);
    const sql = await service.serviceDb();
    const mailbox = await (await import("../lib/email/mailboxes")).sendingMailbox(user);
    for (const id of ids) {
      await sql
        .update(db.emailEvents)
        .set({
          event_type: "queued",
          mailbox_id: mailbox.id,
          from_email: account.mailbox,
          message_id: `<${randomUUID()}@northwind-roasters.com>`,
        })
        .where(eq(db.emailEvents.id, id));
    }
    return { user, account, ids };
  }

  // Each body as Gmail documents it (https://developers.google.com/gmail/api/guides/handle-errors):
  // the retry time of a rate limit is in the message, not in a Retry-After header.
  it("Gmail's rate limits put the one email off for as long as Gmail says; the mailbox goes on", async () => {
    const { account, ids } = await queuedBy(4);
    // How long each puts the email off: Gmail's "Retry after" time (two minutes), else a minute, or an
    // hour for the project's daily quota.
    const cases = [
      ["rate_limited", 120_000],
      ["concurrent", 60_000],
      ["user_rate_limit", 60_000],
      ["project_daily_limit", 3_600_000],
    ] as const;
    for (const [index, [fault, wait]] of cases.entries()) {
      account.fail(fault);
      // The wait runs from a moment inside the delivery: bracketed by its start and end, so the
      // check holds however long a busy machine takes (the second above is the rounding up of
      // Gmail's time to whole seconds).
      const before = Date.now();
      const limited = await deliver(ids[index] as string);
      const after = Date.now();
      expect(limited.body.data.outcome, `${fault}: ${JSON.stringify(limited.body)}`).toBe("deferred");
      expect(limited.body.data.reason).toMatch(/^Gmail rate limit/);
      const until = Date.parse(limited.body.data.until);
      expect(until, fault).toBeGreaterThanOrEqual(before + wait);
      expect(until, fault).toBeLessThanOrEqual(after + wait + 1000);
      expect((await events([ids[index] as string]))[0]?.event_type).toBe("queued");
    }
    expect((await mailboxOf(account))?.paused_until ?? null).toBeNull();
    expect(account.sent).toHaveLength(0);
  });

  it("Gmail's sending limits pause the mailbox until Gmail's time (or a day) and alert; nothing is lost", async () => {
    for (const [fault, hours] of [
      ["sending_limit", 3],
      ["daily_quota", 24],
    ] as const) {
      const { user, account, ids } = await queuedBy(2);
      account.fail(fault);
      // Bracketed by the delivery's start and end (a second either way for Gmail's time in whole
      // seconds), not measured from a later clock reading a busy machine makes late.
      const before = Date.now();
      const quota = await deliver(ids[0] as string);
      const after = Date.now();
      expect(quota.body.data, fault).toMatchObject({ outcome: "deferred", reason: "Gmail sending limit" });
      const mailbox = await mailboxOf(account);
      expect(mailbox?.pause_reason).toContain("Gmail sending limit");
      const pausedUntil = Date.parse(`${mailbox?.paused_until}`.replace(" ", "T").replace(/\+00$/, "Z"));
      expect(pausedUntil, fault).toBeGreaterThanOrEqual(before + hours * 3_600_000 - 1000);
      expect(pausedUntil, fault).toBeLessThanOrEqual(after + hours * 3_600_000 + 1000);
      const sql = await service.serviceDb();
      const alerts = await sql.select().from(db.alerts).where(eq(db.alerts.user_id, user));
      expect(alerts.map((alert) => alert.type)).toContain("mailbox.paused");
      // While paused nothing goes out; the emails wait, they are not dropped.
      const paused = await deliver(ids[1] as string);
      expect(paused.body.data.outcome).toBe("deferred");
      expect(account.sent).toHaveLength(0);
      expect((await events(ids)).map((row) => row.event_type)).toEqual(["queued", "queued"]);
    }
    // Another workspace's mailbox is not paused by these.
    const other = await business();
    expect((await mailboxOf(other.account))?.paused_until ?? null).toBeNull();
  });

  it("a send whose answer was lost is found in Sent by its Message-ID and not sent again", async () => {
    const { user, account, lead, id } = await approvedDraft();
    account.fail("lost_answer");
    const { queueEmails } = await import("../lib/email/queueing");
    await queueEmails(user, [id]);
    await dev.broker.settle(200, 60_000);
    const [row] = await events([id]);
    expect(row?.event_type).toBe("sent");
    expect(sentTo(lead?.email ?? null)).toHaveLength(1);
    expect(account.searches, JSON.stringify(account.searches)).toContain(
      `in:sent rfc822msgid:${row?.message_id?.slice(1, -1)}`,
    );
  });

  it("a worker killed after Gmail took the email: the same message's redelivery finds it in Sent at once", async () => {
    const { user, account, lead, id } = await draftForNewLead();
    const messageId = `<${randomUUID()}@northwind-roasters.com>`;
    const sql = await service.serviceDb();
    const mailbox = await (await import("../lib/email/mailboxes")).sendingMailbox(user);
    // What the dead delivery left: its claim, and the email in Gmail's Sent.
    await sql
      .update(db.emailEvents)
      .set({
        event_type: "sending",
        mailbox_id: mailbox.id,
        message_id: messageId,
        from_email: account.mailbox,
        metadata: { claimed_at: Date.now(), claimed_by: "msg_dead_delivery" },
      })
      .where(eq(db.emailEvents.id, id));
    account.historyId += 1;
    account.sent.push({
      id: "sentbeforethecrash",
      threadId: "threadbeforethecrash",
      historyId: account.historyId,
      raw: "",
      mime: `Message-ID: ${messageId}\r\nTo: ${lead?.email}\r\n\r\nHello`,
      messageId,
      to: lead?.email ?? undefined,
      at: Date.now(),
    });
    // Another message's delivery meanwhile waits for the fresh claim.
    expect((await deliver(id, "msg_someone_else")).status).toBe(409);
    const redelivered = await deliver(id, "msg_dead_delivery");
    expect(redelivered.status).toBe(200);
    expect(redelivered.body.data).toMatchObject({
      outcome: "found_in_sent",
      gmail_message_id: "sentbeforethecrash",
    });
    const [row] = await events([id]);
    expect(row).toMatchObject({ event_type: "sent", gmail_message_id: "sentbeforethecrash" });
    expect(sentTo(lead?.email ?? null)).toHaveLength(1);
  });

  it("Gmail answering 500 twice: QStash delivers the job again until it is sent, once", async () => {
    const { user, account, lead, id } = await approvedDraft();
    account.fail("server_error", "server_error");
    const { queueEmails } = await import("../lib/email/queueing");
    await queueEmails(user, [id]);
    await dev.broker.settle(200, 60_000);
    const [row] = await events([id]);
    expect(row?.event_type).toBe("sent");
    expect(sentTo(lead?.email ?? null)).toHaveLength(1);
    const message = [...dev.broker.messages.values()].find(
      (m) => m.url.endsWith("/api/workers/email") && m.body.includes(id),
    );
    expect(message?.attempts.map((attempt) => attempt.status)).toEqual([503, 503, 200]);
  });

  it("pacing: an hourly cap defers the email over it to when the window frees; another workspace's mailbox is not delayed", async () => {
    const sql = await service.serviceDb();
    const { user, account } = await business();
    const [sentEarlier] = await leadsFor(user, 1);
    await agent(user, { lead_ids: [sentEarlier?.id], mode: "send" });
    await dev.broker.settle(200, 60_000);
    await sql.update(db.mailboxes).set({ hourly_cap: 1 }).where(eq(db.mailboxes.address, account.mailbox));
    const leads = await leadsFor(user, 1);
    const drafted = await agent(user, { lead_ids: leads.map((lead) => lead.id), mode: "send" });
    const id = drafted.body.data.result.emails[0].id;
    const [row] = await events([id]);
    // The first email went out within the hour: the plan puts this one about an hour out.
    expect(
      Date.parse(`${row?.scheduled_at}`.replace(" ", "T").replace(/\+00$/, "Z")) - Date.now(),
    ).toBeGreaterThan(30 * 60_000);
    const now = await deliver(id);
    expect(now.body.data).toMatchObject({ outcome: "deferred", reason: "pacing" });
    expect(sentTo(leads[0]?.email ?? null)).toHaveLength(0);
    // Another business's email is planned now, whatever this mailbox's queue holds.
    const other = await business();
    const [theirs] = await leadsFor(other.user, 1);
    const elsewhere = await agent(other.user, { lead_ids: [theirs?.id], mode: "send" });
    const [otherRow] = await events([elsewhere.body.data.result.emails[0].id]);
    expect(
      Date.parse(`${otherRow?.scheduled_at}`.replace(" ", "T").replace(/\+00$/, "Z")) - Date.now(),
    ).toBeLessThan(60_000);
  });

  it("a prompt-style body picks leads by the filter in its context", async () => {
    const { user } = await business();
    const [strong] = await leadsFor(user, 1);
    const sql = await service.serviceDb();
    await sql.insert(db.leads).values({
      workspace_id: user,
      user_id: user,
      name: "Low",
      email: "low@example.org",
      company: "Low Co",
      score: 20,
    });
    const { status, body } = await agent(user, {
      prompt: "Write to our best new leads",
      context: { status: "new", min_score: 75 },
    });
    expect(status).toBe(200);
    expect(body.data.result.emails.map((email: { to: string }) => email.to)).toEqual([strong?.email]);
    const wrong = await agent(user, { prompt: "Write to them", context: { status: "hot" } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toContain("context.status");
  });

  it("a workspace without its postal address sends nothing: 409 before any model call; cleared after approval, the email is cancelled", async () => {
    const user = await createUser(undefined, undefined, { postalAddress: null });
    const [lead] = await leadsFor(user, 1);
    const drafted = await agent(user, { lead_ids: [lead?.id] });
    expect(drafted.status, JSON.stringify(drafted.body)).toBe(200);
    const ids: string[] = drafted.body.data.result.emails.map((email: { id: string }) => email.id);
    const calls = model.requests.length;
    const refused = await agent(user, { lead_ids: [lead?.id], mode: "send" });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: "postal_address_required",
      details: { field: "postal_address", workspace_id: user },
    });
    const approval = await agent(user, { event_ids: ids, mode: "send" });
    expect(approval.status, JSON.stringify(approval.body)).toBe(409);
    expect(model.requests.length).toBe(calls);
    expect((await events(ids)).map((row) => row.event_type)).toEqual(["drafted"]);

    // Set, approved and queued; then cleared before the slot: the send is cancelled with the reason.
    const sql = await service.serviceDb();
    await sql
      .update(db.workspaces)
      .set({ postal_address: "2 Mill Lane, Bath BA1 1AA" })
      .where(eq(db.workspaces.id, user));
    const approved = await agent(user, { event_ids: ids, mode: "send" });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    await sql.update(db.workspaces).set({ postal_address: null }).where(eq(db.workspaces.id, user));
    await deliver(ids[0] as string);
    const [row] = await events(ids);
    expect(row).toMatchObject({
      event_type: "cancelled",
      error: "the workspace has no postal address for the footer",
    });
    expect(sentTo(lead?.email ?? "")).toEqual([]);
  });

  it("refuses bodies it cannot act on, before anything is stored", async () => {
    const { user } = await business();
    const bad = await agent(user, { event_ids: [randomUUID()] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("mode");
    const none = await agent(user, { event_ids: [randomUUID()], mode: "send" });
    expect(none.status).toBe(422);
  });
});

const pushClaims = {
  aud: "https://app.example.com/webhook/email",
  email: "gmail-push@stand-in.iam.gserviceaccount.com",
};

async function push(token: string | undefined, body: ReturnType<typeof gmail.pushBody>) {
  const response = await fetch(`${dev.url}/webhook/email`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** A lead emailed through the whole pipeline; returns the sent event. */
async function emailed(
  user: string,
  values: { name: string; email: string; company: string; website?: string },
  campaignId?: string,
) {
  const sql = await service.serviceDb();
  const [lead] = await sql
    .insert(db.leads)
    .values({ workspace_id: user, user_id: user, role: "Owner", score: 70, ...values })
    .returning();
  const drafted = await agent(user, {
    lead_ids: [lead?.id],
    mode: "send",
    ...(campaignId ? { campaign_id: campaignId } : {}),
  });
  await dev.broker.settle(200, 60_000);
  const [event] = await events([drafted.body.data.result.emails[0].id]);
  expect(event?.event_type).toBe("sent");
  return { lead, event };
}

async function pointCursorAtNow(account: GoogleAccount) {
  const sql = await service.serviceDb();
  await sql
    .update(db.mailboxes)
    .set({ history_id: String(account.historyId) })
    .where(eq(db.mailboxes.address, account.mailbox));
}

describe("replies by Gmail push", () => {
  it("refused pushes change nothing: no token, wrong audience, wrong account, unverified, expired, foreign key", async () => {
    const cases = [
      undefined,
      await gmail.signPushToken({ ...pushClaims, aud: "https://elsewhere.example/webhook/email" }),
      await gmail.signPushToken({ ...pushClaims, email: "someone@stand-in.iam.gserviceaccount.com" }),
      await gmail.signPushToken({ ...pushClaims, email_verified: false }),
      await gmail.signPushToken(pushClaims, { expiresInSeconds: -600 }),
      await gmail.signPushToken(pushClaims, { key: "other" }),
    ];
    const sql = await service.serviceDb();
    for (const token of cases) {
      const body = gmail.pushBody("sam@northwind-roasters.com");
      const response = await push(token, body);
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe("invalid_signature");
      const rows = await sql
        .select()
        .from(db.webhookEvents)
        .where(eq(db.webhookEvents.event_id, body.message.messageId));
      expect(rows).toEqual([]);
    }
    const malformed = await push(await gmail.signPushToken(pushClaims), {
      ...gmail.pushBody("sam@northwind-roasters.com"),
      message: { data: "bm90IGpzb24=", messageId: randomUUID(), message_id: randomUUID(), publishTime: "" },
    });
    expect(malformed.status).toBe(400);
  });

  it("a reply stops the sequence for the whole company and raises an alert; a repeated push is a duplicate", async () => {
    const { user, account } = await business();
    const first = await emailed(user, {
      name: "Ada Lovelace",
      email: "ada@harbour-cafe.example",
      company: "Harbour Cafe",
    });
    const sql = await service.serviceDb();
    const [colleague] = await sql
      .insert(db.leads)
      .values({
        workspace_id: user,
        user_id: user,
        name: "Bo",
        email: "bo@harbour-cafe.example",
        company: "Harbour Cafe",
        status: "contacted",
      })
      .returning();
    const [queued] = await sql
      .insert(db.emailEvents)
      .values({
        workspace_id: user,
        user_id: user,
        lead_id: colleague?.id,
        event_type: "queued",
        to_email: colleague?.email,
        from_email: account.mailbox,
        subject: "Hello Bo",
        body_text: "Hi Bo",
        body_html: "<p>Hi Bo</p>",
        message_id: `<${randomUUID()}@northwind-roasters.com>`,
      })
      .returning();
    await pointCursorAtNow(account);
    account.receive({
      threadId: first.event?.gmail_thread_id ?? "",
      headers: {
        From: "Ada Lovelace <ada@harbour-cafe.example>",
        Subject: `Re: ${first.event?.subject}`,
        "In-Reply-To": first.event?.message_id ?? "",
      },
      snippet: "Yes please, send me your wholesale prices.",
    });
    const body = account.pushBody(account.mailbox);
    const response = await push(await gmail.signPushToken(pushClaims), body);
    expect(response.status).toBe(200);
    expect(response.body.data.outcome).toBe("processed");
    await dev.broker.settle(200, 60_000);

    const [lead] = await sql
      .select()
      .from(db.leads)
      .where(eq(db.leads.id, first.lead?.id ?? ""));
    expect(lead?.status).toBe("replied");
    expect(lead?.history).toContainEqual(expect.objectContaining({ event: "reply", kind: "interested" }));
    const replies = await sql
      .select()
      .from(db.emailEvents)
      .where(eq(db.emailEvents.lead_id, first.lead?.id ?? ""));
    expect(replies.map((row) => row.event_type).sort()).toEqual(["replied", "sent"]);
    const [stopped] = await events([queued?.id ?? ""]);
    expect(stopped).toMatchObject({ event_type: "cancelled", error: "Harbour Cafe replied" });
    const alerts = await sql.select().from(db.alerts).where(eq(db.alerts.user_id, user));
    expect(alerts.find((alert) => alert.type === "email.replied")?.title).toBe(
      "Reply from Ada Lovelace (Harbour Cafe)",
    );

    const again = await push(await gmail.signPushToken(pushClaims), body);
    expect(again.body.data.outcome).toBe("duplicate");
    await dev.broker.settle(200, 60_000);
    const after = await sql
      .select()
      .from(db.emailEvents)
      .where(eq(db.emailEvents.lead_id, first.lead?.id ?? ""));
    expect(after).toHaveLength(2);
  });

  it("bounces suppress, out-of-office pauses; every history page is read and the cursor only moves forward", async () => {
    const { user, account } = await business();
    const bounced = await emailed(user, { name: "Cy", email: "cy@gone-cafe.example", company: "Gone Cafe" });
    const away = await emailed(user, { name: "Di", email: "di@beach-cafe.example", company: "Beach Cafe" });
    await pointCursorAtNow(account);
    account.receive({
      threadId: "unrelated-1",
      headers: { From: "news@example.org", Subject: "Newsletter" },
      snippet: "news",
    });
    account.receive(
      dsnArrival(
        "gmail-hard-5.1.1.eml",
        "cy@gone-cafe.example",
        bounced.event?.message_id ?? "",
        bounced.event?.gmail_thread_id ?? "",
      ),
    );
    account.receive({
      threadId: "unrelated-2",
      headers: { From: "bills@example.org", Subject: "Invoice" },
      snippet: "invoice",
    });
    account.receive({
      threadId: away.event?.gmail_thread_id ?? "",
      headers: { From: "Di <di@beach-cafe.example>", Subject: "Automatic reply" },
      snippet: "I am out of office until 2027-01-05 with limited access to email.",
    });
    const latest = account.historyId;
    const response = await push(await gmail.signPushToken(pushClaims), account.pushBody(account.mailbox));
    expect(response.status).toBe(200);
    await dev.broker.settle(200, 60_000);

    const { isSuppressed } = await import("../lib/email/suppression");
    expect(await isSuppressed(user, "cy@gone-cafe.example")).toBe(true);
    const sql = await service.serviceDb();
    const [cy] = await sql
      .select()
      .from(db.leads)
      .where(eq(db.leads.id, bounced.lead?.id ?? ""));
    expect(cy?.status).toBe("bounced");
    const [di] = await sql
      .select()
      .from(db.leads)
      .where(eq(db.leads.id, away.lead?.id ?? ""));
    expect(di?.status).toBe("contacted");
    expect(di?.metadata).toMatchObject({ paused_until: "2027-01-05T09:00:00Z" });
    expect((await mailboxOf(account))?.history_id).toBe(String(latest));

    // A late notification carrying an older history id leaves the cursor where it is.
    await push(
      await gmail.signPushToken(pushClaims),
      account.pushBody(account.mailbox, randomUUID(), latest - 3),
    );
    await dev.broker.settle(200, 60_000);
    expect((await mailboxOf(account))?.history_id).toBe(String(latest));
  });

  // Bounce formats and codes: see test/dsn.test.ts for the sources of each fixture.
  it("bounces by kind: hard suppresses, soft sends again and suppresses after the limit, a policy block and an out-of-office suppress nothing, Gmail's quota pauses the mailbox", async () => {
    const { user, account } = await business();
    const hard = await emailed(user, {
      name: "Ed",
      email: "ed@exchange-cafe.example",
      company: "Exchange Cafe",
    });
    const full = await emailed(user, { name: "Flo", email: "flo@full-cafe.example", company: "Full Cafe" });
    const blocked = await emailed(user, {
      name: "Gil",
      email: "gil@strict-cafe.example",
      company: "Strict Cafe",
    });
    const away = await emailed(user, { name: "Hu", email: "hu@away-cafe.example", company: "Away Cafe" });
    const quota = await emailed(user, { name: "Io", email: "io@quota-cafe.example", company: "Quota Cafe" });
    await pointCursorAtNow(account);
    const arrive = (name: string, sent: typeof hard) =>
      account.receive(
        dsnArrival(
          name,
          sent.lead?.email ?? "",
          sent.event?.message_id ?? "",
          sent.event?.gmail_thread_id ?? "",
        ),
      );
    arrive("exchange-hard-5.1.10.eml", hard);
    arrive("postfix-soft-mailbox-full.eml", full);
    arrive("postfix-delayed-4.4.1.eml", full);
    arrive("postfix-blocked-5.7.1.eml", blocked);
    arrive("exchange-auto-reply.eml", away);
    arrive("gmail-quota-5.4.5.eml", quota);
    const pushed = await push(await gmail.signPushToken(pushClaims), account.pushBody(account.mailbox));
    expect(pushed.status).toBe(200);
    await dev.broker.settle(200, 60_000);

    const { isSuppressed } = await import("../lib/email/suppression");
    const sql = await service.serviceDb();
    const eventOf = async (sent: typeof hard) => (await events([sent.event?.id ?? ""]))[0];
    const leadRow = async (sent: typeof hard) =>
      (
        await sql
          .select()
          .from(db.leads)
          .where(eq(db.leads.id, sent.lead?.id ?? ""))
      )[0];

    expect(await isSuppressed(user, "ed@exchange-cafe.example")).toBe(true);
    expect(await eventOf(hard)).toMatchObject({
      event_type: "bounced",
      metadata: expect.objectContaining({
        bounce: expect.objectContaining({ kind: "hard", status: "5.1.10" }),
      }),
    });
    expect((await leadRow(hard))?.status).toBe("bounced");

    // Soft: not suppressed, sent again later (a new Message-ID, queued for the retry hour); the
    // delayed warning changed nothing.
    expect(await isSuppressed(user, "flo@full-cafe.example")).toBe(false);
    const retry = await eventOf(full);
    expect(retry?.event_type).toBe("queued");
    expect(retry?.message_id).not.toBe(full.event?.message_id);
    expect(Date.parse(retry?.scheduled_at ?? "") - Date.now()).toBeGreaterThan(23 * 3_600_000);
    expect((await leadRow(full))?.metadata).toMatchObject({ soft_bounces: 1 });
    expect((await leadRow(full))?.status).toBe("contacted");

    expect(await isSuppressed(user, "gil@strict-cafe.example")).toBe(false);
    expect((await eventOf(blocked))?.event_type).toBe("bounced");
    expect((await leadRow(blocked))?.status).toBe("contacted");

    // The out-of-office titled "Undeliverable" is a reply: the lead pauses, nothing is bounced.
    expect(await isSuppressed(user, "hu@away-cafe.example")).toBe(false);
    expect((await eventOf(away))?.event_type).toBe("sent");

    const mailbox = await mailboxOf(account);
    expect(Date.parse(mailbox?.paused_until ?? "") - Date.now()).toBeGreaterThan(23 * 3_600_000);
    expect(mailbox?.pause_reason).toContain("5.4.5");
    expect((await eventOf(quota))?.event_type).toBe("queued");
    expect(await isSuppressed(user, "io@quota-cafe.example")).toBe(false);
    const alerts = await sql.select().from(db.alerts).where(eq(db.alerts.workspace_id, user));
    expect(alerts.map((alert) => alert.type)).toContain("mailbox.paused");

    // The third soft bounce of the same address suppresses it like a hard one.
    for (let i = 0; i < 2; i++) {
      const current = await eventOf(full);
      await sql
        .update(db.emailEvents)
        .set({ event_type: "sent", gmail_thread_id: `soft-${i}`, sent_at: new Date().toISOString() })
        .where(eq(db.emailEvents.id, full.event?.id ?? ""));
      account.receive(
        dsnArrival(
          "postfix-soft-mailbox-full.eml",
          "flo@full-cafe.example",
          current?.message_id ?? "",
          `soft-${i}`,
        ),
      );
      await push(await gmail.signPushToken(pushClaims), account.pushBody(account.mailbox, randomUUID()));
      await dev.broker.settle(200, 60_000);
    }
    expect(await isSuppressed(user, "flo@full-cafe.example")).toBe(true);
    expect((await eventOf(full))?.event_type).toBe("bounced");
    expect((await leadRow(full))?.metadata).toMatchObject({ soft_bounces: 3 });
  });

  it("bounce protection pauses a mailbox or campaign at 2 % after 20 sends and not before; an admin resumes it and the count restarts", async () => {
    const { user, account } = await business();
    // Warm the mailbox row (made on first use) with one real send.
    await emailed(user, { name: "Jo", email: "jo@first-cafe.example", company: "First Cafe" });
    const mailbox = await mailboxOf(account);
    const sql = await service.serviceDb();
    const campaign = async (name: string) =>
      (
        await sql
          .insert(db.campaigns)
          .values({ workspace_id: user, user_id: user, name, status: "active" })
          .returning()
      )[0];
    const a = await campaign("Spring A");
    const b = await campaign("Spring B");
    const sends = (count: number, type: "sent" | "bounced", campaignId: string | null) =>
      sql.insert(db.emailEvents).values(
        Array.from({ length: count }, (_, i) => ({
          workspace_id: user,
          user_id: user,
          mailbox_id: mailbox?.id,
          campaign_id: campaignId,
          event_type: type,
          to_email: `${type}-${i}-${randomUUID().slice(0, 6)}@guard.example`,
          sent_at: new Date().toISOString(),
        })),
      );
    const { guardBounceRate, untilResumed } = await import("../lib/email/bounce-guard");
    const guard = (campaignId: string | null) =>
      guardBounceRate({ workspace_id: user, mailbox_id: mailbox?.id ?? null, campaign_id: campaignId });

    // Under 20 sends a bounce pauses nothing, however high the rate (1 of 5).
    await sends(4, "sent", a?.id ?? null);
    await sends(1, "bounced", a?.id ?? null);
    expect(await guard(a?.id ?? null)).toEqual({ mailbox: false, campaign: false });
    // Campaign A: 1 of 50 = 2.0 % pauses it; B: 1 of 51 = 1.96 % does not; the mailbox (2 of 102) neither.
    await sends(45, "sent", a?.id ?? null);
    await sends(50, "sent", b?.id ?? null);
    await sends(1, "bounced", b?.id ?? null);
    expect(await guard(b?.id ?? null)).toEqual({ mailbox: false, campaign: false });
    expect(await guard(a?.id ?? null)).toEqual({ mailbox: false, campaign: true });
    const [pausedA] = await sql
      .select()
      .from(db.campaigns)
      .where(eq(db.campaigns.id, a?.id ?? ""));
    expect(pausedA).toMatchObject({ status: "paused" });
    expect(pausedA?.pause_reason).toContain("1 of 50 sends");
    // One more bounce: 3 of 103 = 2.9 % pauses the mailbox until someone resumes it.
    await sends(1, "bounced", null);
    expect(await guard(null)).toEqual({ mailbox: true, campaign: false });
    const { timestampMs } = await import("../lib/db/timestamps");
    expect(timestampMs((await mailboxOf(account))?.paused_until ?? "")).toBe(Date.parse(untilResumed));
    const alerts = await sql.select().from(db.alerts).where(eq(db.alerts.workspace_id, user));
    expect(alerts.map((alert) => alert.type).sort()).toEqual(
      expect.arrayContaining(["campaign.bounce_paused", "mailbox.bounce_paused"]),
    );

    const member = await createUser();
    const { addMember } = await import("./support/helpers");
    await addMember(user, member, "member");
    const call = async (who: string, method: string, path: string) => {
      const response = await fetch(`${dev.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${await tokenFor(who)}` },
      });
      return { status: response.status, body: await response.json() };
    };
    const listed = await call(member, "GET", `/api/workspaces/${user}/mailboxes`);
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.data).toEqual([
      expect.objectContaining({
        id: mailbox?.id,
        status: "paused",
        paused_until: untilResumed,
        bounce_rate: { sends: 103, bounces: 3, rate: 3 / 103 },
      }),
    ]);
    const byMember = await call(member, "POST", `/api/workspaces/${user}/mailboxes/${mailbox?.id}/resume`);
    expect(byMember.status, JSON.stringify(byMember.body)).toBe(403);
    const resumed = await call(user, "POST", `/api/workspaces/${user}/mailboxes/${mailbox?.id}/resume`);
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    expect(resumed.body.data).toMatchObject({
      status: "active",
      paused_until: null,
      bounce_rate: { sends: 0, bounces: 0 },
    });
    const campaignResumed = await call(user, "POST", `/api/workspaces/${user}/campaigns/${a?.id}/resume`);
    expect(campaignResumed.status, JSON.stringify(campaignResumed.body)).toBe(200);
    expect(campaignResumed.body.data).toMatchObject({ status: "active", bounce_rate: { sends: 0 } });
    const again = await call(user, "POST", `/api/workspaces/${user}/campaigns/${a?.id}/resume`);
    expect(again.status, JSON.stringify(again.body)).toBe(409);
    const elsewhere = await call(user, "POST", `/api/workspaces/${user}/mailboxes/${randomUUID()}/resume`);
    expect(elsewhere.status, JSON.stringify(elsewhere.body)).toBe(404);
    // After the resume the old bounces no longer count: the next one alone does not pause again.
    expect(await guard(null)).toEqual({ mailbox: false, campaign: false });
  });

  // RFC 2369 §3.2 / RFC 8058 §3.2: the List-Unsubscribe mailto is honoured as well as the URL; a
  // mail client sends a new message (subject "unsubscribe") to it, not a reply in our thread.
  it("an email to the List-Unsubscribe mailto, or a reply saying unsubscribe, suppresses its sender without the model", async () => {
    const { user, account } = await business();
    const replier = await emailed(user, {
      name: "Fi",
      email: "fi@harbour-bakery.example",
      company: "Harbour Bakery",
    });
    const mailer = await emailed(user, { name: "Gus", email: "gus@mill-lane.example", company: "Mill Lane" });
    await pointCursorAtNow(account);
    const classified = () => model.callsFor("reply_classification").length;
    const callsBefore = classified();
    account.receive({
      threadId: "mailto-unsubscribe-1",
      headers: {
        From: "Gus <GUS@mill-lane.example>",
        To: account.mailbox,
        Subject: "unsubscribe",
        "Authentication-Results": "mx.google.com; dkim=pass header.i=@mill-lane.example; spf=pass",
      },
      snippet: "",
    });
    // None of these is an unsubscribe request: a forged From (nothing authenticated), a mailing
    // list's post that merely mentions unsubscribing, a newsletter titled so.
    const bystanders = ["ned@pier-cafe.example", "ola@quay-group.example", "news@roaster-weekly.example"];
    account.receive({
      threadId: "forged-1",
      headers: {
        From: `Ned <${bystanders[0]}>`,
        Subject: "unsubscribe",
        "Authentication-Results": "mx.google.com; spf=fail",
      },
      snippet: "",
    });
    account.receive({
      threadId: "group-1",
      headers: {
        From: `Ola <${bystanders[1]}>`,
        Subject: "Meeting moved",
        "List-Id": "<team.quay-group.example>",
        "Authentication-Results": "mx.google.com; dkim=pass",
      },
      snippet:
        "Meeting moved to 5pm. To unsubscribe from this group, send an email to team+unsubscribe@quay-group.example",
    });
    account.receive({
      threadId: "newsletter-1",
      headers: {
        From: `Weekly <${bystanders[2]}>`,
        Subject: "Unsubscribe",
        "List-Unsubscribe": "<https://roaster-weekly.example/u>",
        "Authentication-Results": "mx.google.com; dkim=pass",
      },
      snippet: "How to unsubscribe from this newsletter",
    });
    account.receive({
      threadId: replier.event?.gmail_thread_id ?? "",
      headers: { From: "Fi <fi@harbour-bakery.example>", Subject: "Re: coffee for the bakery" },
      snippet: "Please unsubscribe me from this list. On Tue, 1 Dec 2026 Sam wrote: > Hi Fi",
    });
    // Quoting our footer ("Not interested? Unsubscribe: …") is not asking to unsubscribe.
    const quoter = await emailed(user, { name: "Hal", email: "hal@quay-deli.example", company: "Quay Deli" });
    account.receive({
      threadId: quoter.event?.gmail_thread_id ?? "",
      headers: { From: "Hal <hal@quay-deli.example>", Subject: "Re: coffee" },
      snippet: "Yes, call me Monday. On Tue, 1 Dec 2026 Sam wrote: > Not interested? Unsubscribe: https://x",
    });
    await push(await gmail.signPushToken(pushClaims), account.pushBody(account.mailbox));
    await dev.broker.settle(200, 60_000);

    const { isSuppressed } = await import("../lib/email/suppression");
    expect(await isSuppressed(user, "gus@mill-lane.example")).toBe(true);
    expect(await isSuppressed(user, "fi@harbour-bakery.example")).toBe(true);
    expect(await isSuppressed(user, "hal@quay-deli.example")).toBe(false);
    for (const bystander of bystanders) {
      expect(await isSuppressed(user, bystander), bystander).toBe(false);
    }
    const sql = await service.serviceDb();
    const suppressions = await sql
      .select()
      .from(db.emailSuppressions)
      .where(eq(db.emailSuppressions.workspace_id, user));
    expect(suppressions.map((row) => [row.email, row.source, row.lead_id]).sort()).toEqual(
      [
        ["fi@harbour-bakery.example", "reply asking to stop", replier.lead?.id],
        ["gus@mill-lane.example", "unsubscribe email", mailer.lead?.id],
      ].sort(),
    );
    const [gus] = await sql
      .select()
      .from(db.leads)
      .where(eq(db.leads.id, mailer.lead?.id ?? ""));
    expect(gus?.status).toBe("unsubscribed");
    // Only Hal's reply needed the model to say what kind of reply it was.
    expect(classified() - callsBefore).toBe(1);

    // The same notification again records nothing twice.
    await push(await gmail.signPushToken(pushClaims), account.pushBody(account.mailbox, randomUUID()));
    await dev.broker.settle(200, 60_000);
    const unsubscribed = await sql
      .select()
      .from(db.emailEvents)
      .where(and(eq(db.emailEvents.workspace_id, user), eq(db.emailEvents.event_type, "unsubscribed")));
    expect(unsubscribed).toHaveLength(1);
  });

  // https://developers.google.com/gmail/api/reference/rest/v1/users.history/list and
  // .../users.messages/get: the filters, paging and metadata the sync relies on, as Gmail applies them.
  it("the stand-in's history.list and messages.get behave as Gmail documents", async () => {
    const { user, account } = await business();
    const sent = await emailed(user, { name: "Ivy", email: "ivy@pier-cafe.example", company: "Pier Cafe" });
    const from = account.historyId - 1;
    account.receive({
      threadId: sent.event?.gmail_thread_id ?? "",
      headers: { From: "Ivy <ivy@pier-cafe.example>", Subject: "Re: coffee", "X-Other": "kept out" },
      snippet: "Thanks",
    });
    const token = account.issueAccessToken();
    const root = gmail.oauthEnv().GOOGLE_API_ROOT_URL;
    const api = async (path: string) => {
      const response = await fetch(`${root}/gmail/v1/users/me/${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: response.status, body: await response.json() };
    };
    const labels = (body: { history?: { messagesAdded: { message: { labelIds: string[] } }[] }[] }) =>
      (body.history ?? []).map((record) => record.messagesAdded[0]?.message.labelIds);
    // Our own sent message is in the history, with SENT.
    const all = await api(`history?startHistoryId=${from}&historyTypes=messageAdded`);
    expect(labels(all.body)).toEqual([["SENT"], ["INBOX", "UNREAD"]]);
    const inbox = await api(`history?startHistoryId=${from}&historyTypes=messageAdded&labelId=INBOX`);
    expect(labels(inbox.body)).toEqual([["INBOX", "UNREAD"]]);
    const other = await api(`history?startHistoryId=${from}&historyTypes=labelAdded`);
    expect(other.body.history).toBeUndefined();
    const first = await api(`history?startHistoryId=${from}&maxResults=1`);
    expect(first.body.history).toHaveLength(1);
    const second = await api(
      `history?startHistoryId=${from}&maxResults=1&pageToken=${first.body.nextPageToken}`,
    );
    expect(labels(second.body)).toEqual([["INBOX", "UNREAD"]]);
    expect((await api(`history?startHistoryId=${from}&maxResults=501`)).status).toBe(400);

    const replyId = inbox.body.history[0].messagesAdded[0].message.id;
    const metadata = await api(
      `messages/${replyId}?format=metadata&metadataHeaders=From&metadataHeaders=subject`,
    );
    expect(metadata.body.payload.headers.map((header: { name: string }) => header.name)).toEqual([
      "From",
      "Subject",
    ]);
    const full = await api(`messages/${replyId}`);
    expect(full.body.payload.headers.map((header: { name: string }) => header.name)).toContain("X-Other");
  });

  it("history Gmail no longer has (404) falls back to a sync of recent messages, missing nothing", async () => {
    const { user, account } = await business();
    const sent = await emailed(user, { name: "Ed", email: "ed@late-cafe.example", company: "Late Cafe" });
    const sql = await service.serviceDb();
    await sql.update(db.mailboxes).set({ history_id: "5" }).where(eq(db.mailboxes.address, account.mailbox));
    account.oldestHistoryId = account.historyId;
    account.receive({
      threadId: sent.event?.gmail_thread_id ?? "",
      headers: { From: "Ed <ed@late-cafe.example>", Subject: "Re: coffee" },
      snippet: "Sounds good, call me on Monday.",
    });
    await push(await gmail.signPushToken(pushClaims), account.pushBody(account.mailbox));
    await dev.broker.settle(200, 60_000);
    const [ed] = await sql
      .select()
      .from(db.leads)
      .where(eq(db.leads.id, sent.lead?.id ?? ""));
    expect(ed?.status).toBe("replied");
    expect(Number((await mailboxOf(account))?.history_id)).toBe(account.historyId);
  });

  it("the daily watch renewal watches every connected mailbox; one failing alerts its workspace's admins only", async () => {
    const { user, account } = await business();
    const other = await business();
    expect([...dev.broker.schedules.keys()]).toContain("gmail-watch");
    dev.broker.triggerSchedule("gmail-watch");
    await dev.broker.settle(200, 60_000);
    for (const watched of [gmail, account, other.account]) {
      expect(watched.watches.at(-1), watched.mailbox).toEqual({
        topicName: "projects/stand-in/topics/gmail-push",
        labelIds: ["INBOX"],
        labelFilterBehavior: "include",
      });
    }
    const sql = await service.serviceDb();
    expect(
      Date.parse(`${(await mailboxOf(account))?.watch_expires_at}`.replace(" ", "T").replace(/\+00$/, "Z")),
    ).toBeGreaterThan(Date.now() + 6 * 86_400_000);

    account.fail("watch_error", "watch_error", "watch_error");
    dev.broker.triggerSchedule("gmail-watch");
    await dev.broker.settle(200, 60_000);
    const alerts = await sql.select().from(db.alerts).where(eq(db.alerts.type, "mailbox.watch_failed"));
    expect(alerts.map((alert) => alert.user_id)).toContain(user);
    expect(alerts.map((alert) => alert.user_id)).not.toContain(other.user);
  });
});

describe("follow-up sequences", () => {
  it("sends a due step in the same thread to leads that have not replied, once, as a recorded emailer task", async () => {
    const { user, account } = await business();
    const sql = await service.serviceDb();
    const [campaign] = await sql
      .insert(db.campaigns)
      .values({
        workspace_id: user,
        user_id: user,
        name: "Cafe wholesale autumn",
        status: "active",
        steps: [{ day_offset: 3, instructions: "A short, friendly nudge" }],
      })
      .returning();
    const due = await emailed(
      user,
      { name: "Fay", email: "fay@fern-cafe.example", company: "Fern Cafe" },
      campaign?.id,
    );
    const early = await emailed(
      user,
      { name: "Gus", email: "gus@gull-cafe.example", company: "Gull Cafe" },
      campaign?.id,
    );
    const answered = await emailed(
      user,
      { name: "Hal", email: "hal@heron-cafe.example", company: "Heron Cafe" },
      campaign?.id,
    );
    // Qualified by the user after the first email: the one eligibility rule lets its sequence go on.
    const qualified = await emailed(
      user,
      { name: "Ivy", email: "ivy@ibis-cafe.example", company: "Ibis Cafe" },
      campaign?.id,
    );
    await sql
      .update(db.leads)
      .set({ status: "qualified" })
      .where(eq(db.leads.id, qualified.lead?.id ?? ""));
    const fourDaysAgo = new Date(Date.now() - 4 * 86_400_000).toISOString();
    for (const sent of [due, answered, qualified]) {
      await sql
        .update(db.emailEvents)
        .set({ sent_at: fourDaysAgo })
        .where(eq(db.emailEvents.id, sent.event?.id ?? ""));
    }
    await sql
      .update(db.leads)
      .set({ status: "replied" })
      .where(eq(db.leads.id, answered.lead?.id ?? ""));

    dev.broker.triggerSchedule("follow-ups");
    await dev.broker.settle(200, 60_000);
    dev.broker.triggerSchedule("follow-ups");
    await dev.broker.settle(200, 60_000);

    const steps = await sql
      .select()
      .from(db.emailEvents)
      .where(eq(db.emailEvents.campaign_id, campaign?.id ?? ""));
    const followUps = steps.filter((row) => row.sequence_step === 1);
    expect(
      followUps
        .map((row) => [row.lead_id, row.event_type])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    ).toEqual(
      [
        [due.lead?.id, "sent"],
        [qualified.lead?.id, "sent"],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    const followUp = followUps.find((row) => row.lead_id === due.lead?.id);
    expect(followUp?.subject).toBe(`Re: ${due.event?.subject}`);
    expect(followUp?.gmail_thread_id).toBe(due.event?.gmail_thread_id);
    const message = account.sent.find((m) => m.id === followUp?.gmail_message_id);
    const parsed = await simpleParser(message?.mime ?? "");
    expect(parsed.inReplyTo).toBe(due.event?.message_id);
    await expectCompliantMessage(message?.mime ?? "");
    expect(steps.filter((row) => row.lead_id === early.lead?.id)).toHaveLength(1);
    // Written by an outbound-emailer task of the member, with its usage recorded.
    const [task] = await sql
      .select()
      .from(db.agentTasks)
      .where(eq(db.agentTasks.id, followUp?.task_id ?? ""));
    expect(task).toMatchObject({ agent_name: "outbound-emailer", status: "completed", user_id: user });
    expect(task?.prompt_tokens).toBeGreaterThan(0);
  });
});
