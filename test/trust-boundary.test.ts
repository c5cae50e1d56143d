import { randomUUID } from "node:crypto";
import { eq, inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { StandInGoogle } from "../dev/stand-ins/google";
import { asUser } from "../lib/db/as-user";
import { rowsOf } from "../lib/db/client";
import { addMember, createUser, tokenFor } from "./support/helpers";
import { newBusiness, startTestStack } from "./support/stack";

/**
 * The attacks of a user who simply signs up, replayed end to end over HTTP on the local stack, with
 * SQL run exactly as PostgREST runs it (the `authenticated` role and the session's claims):
 *  - writing a recipient or a phishing draft from the browser, and approving it;
 *  - forging a task's outcome, then replaying its Idempotency-Key;
 *  - one workspace's big batch delaying another workspace's mail;
 *  - an unsubscribe through one member's email not stopping another member's.
 */
const google = new StandInGoogle();
let dev: DevServer;
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");

beforeAll(async () => {
  await google.start();
  dev = await startTestStack({
    ...google.oauthEnv(),
    EMAIL_MIN_GAP_SECONDS: "60",
    EMAIL_GAP_JITTER_SECONDS: "0",
    EMAIL_HOURLY_CAP: "12",
    EMAIL_DAILY_CAP: "50",
    EMAIL_RAMP_START: "50",
  });
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
});

afterAll(async () => {
  await dev?.close();
  await google.close();
});

/** A new business: a user whose workspace has its own stand-in Google account, connected by OAuth. */
const business = () => newBusiness(dev, google);

async function agent(user: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(`${dev.url}/api/agents/outbound-emailer`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await tokenFor(user)}`,
      "content-type": "application/json",
      ...headers,
    },
    body: JSON.stringify({ user_id: user, ...body }),
  });
  return { status: response.status, body: await response.json() };
}

/** SQL as PostgREST runs it for this user: an error message, or the rows. */
async function asBrowser(user: string, statement: ReturnType<typeof sql>) {
  try {
    return {
      rows: rowsOf<Record<string, unknown>>(await asUser({ id: user }, (tx) => tx.execute(statement))),
    };
  } catch (error) {
    return { error: String((error as { cause?: Error }).cause?.message ?? error) };
  }
}

async function lead(
  workspace: string,
  user: string,
  email = `owner-${randomUUID().slice(0, 6)}@cafe.example`,
) {
  const sqlDb = await service.serviceDb();
  const [row] = await sqlDb
    .insert(db.leads)
    .values({
      workspace_id: workspace,
      user_id: user,
      name: "Ada",
      email,
      company: `Cafe ${randomUUID().slice(0, 4)}`,
      role: "Owner",
      score: 80,
    })
    .returning();
  if (!row) {
    throw new Error("no lead");
  }
  return row;
}

const sentTo = (address: string) =>
  google.accounts.flatMap((account) => account.sent).filter((message) => message.to?.includes(address));

describe("the browser cannot choose who is emailed or what is said unchecked", () => {
  it("a drafted row addressed to a victim cannot be inserted; a recipient cannot be rewritten; an edited phishing link is never sent", async () => {
    const { user } = await business();
    const target = await lead(user, user);
    const drafted = await agent(user, { lead_ids: [target.id] });
    expect(drafted.status, JSON.stringify(drafted.body)).toBe(200);
    const id: string = drafted.body.data.result.emails[0].id;

    const inserted = await asBrowser(
      user,
      sql`insert into public.email_events (workspace_id, user_id, event_type, to_email, subject, body_text)
          values (${user}, ${user}, 'drafted', 'victim@anywhere.example', 'Your invoice', 'Pay at https://evil.example')`,
    );
    expect(inserted.error).toMatch(/permission denied/);
    const readdressed = await asBrowser(
      user,
      sql`update public.email_events set to_email = 'victim@anywhere.example' where id = ${id}`,
    );
    expect(readdressed.error).toMatch(/permission denied/);

    // The text is the person's to edit: it goes back to review, and a foreign link stops it.
    const edited = await asBrowser(
      user,
      sql`update public.email_events set body_text = 'Urgent: confirm at https://evil.example/login' where id = ${id} returning event_type`,
    );
    expect(edited.rows?.[0]?.event_type).toBe("drafted");
    const approved = await agent(user, { event_ids: [id], mode: "send" });
    expect(approved.status, JSON.stringify(approved.body)).toBe(422);
    expect(JSON.stringify(approved.body)).toContain("https://evil.example/login");
    await dev.broker.settle(200, 60_000);
    expect(sentTo("victim@anywhere.example")).toHaveLength(0);
    expect(sentTo(target.email ?? "")).toHaveLength(0);

    // An honest edit passes the check again and goes to the lead's own address, whatever was stored.
    await asBrowser(
      user,
      sql`update public.email_events set body_text = 'Hi Ada, a short note about beans.' where id = ${id}`,
    );
    const sqlDb = await service.serviceDb();
    await sqlDb
      .update(db.emailEvents)
      .set({ to_email: "stale@elsewhere.example" })
      .where(eq(db.emailEvents.id, id));
    const resent = await agent(user, { event_ids: [id], mode: "send" });
    expect(resent.status, JSON.stringify(resent.body)).toBe(200);
    await dev.broker.settle(200, 60_000);
    expect(sentTo(target.email ?? "")).toHaveLength(1);
    expect(sentTo("stale@elsewhere.example")).toHaveLength(0);
  });

  it("a member approves their own drafts only; an admin approves anyone's", async () => {
    const { user: owner } = await business();
    const member = await createUser();
    await addMember(owner, member, "member");
    const theirs = await lead(owner, owner);
    const drafted = await agent(owner, { lead_ids: [theirs.id] });
    const id: string = drafted.body.data.result.emails[0].id;
    const byMember = await agent(member, { workspace_id: owner, event_ids: [id], mode: "send" });
    expect(byMember.status, JSON.stringify(byMember.body)).toBe(422);
    expect(JSON.stringify(byMember.body)).toContain("an admin approves it");
    const admin = await createUser();
    await addMember(owner, admin, "admin");
    const byAdmin = await agent(admin, { workspace_id: owner, event_ids: [id], mode: "send" });
    expect(byAdmin.status, JSON.stringify(byAdmin.body)).toBe(200);
  });
});

describe("outcomes are the service's", () => {
  it("a forged output, cost or model is refused, and the replay of the key serves the real result", async () => {
    const user = await createUser();
    const key = randomUUID();
    const call = async () => {
      const response = await fetch(`${dev.url}/api/agents/engineer`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${await tokenFor(user)}`,
          "content-type": "application/json",
          "idempotency-key": key,
        },
        body: JSON.stringify({ user_id: user, prompt: "Write add(a, b) in TypeScript" }),
      });
      return { status: response.status, body: await response.json() };
    };
    const first = await call();
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const taskId: string = first.body.data.task.id;
    for (const statement of [
      sql`update public.agent_tasks set output = '{"response":"forged"}' where id = ${taskId}`,
      sql`update public.agent_tasks set cost_usd = 0, model = 'none' where id = ${taskId}`,
      sql`update public.agent_tasks set metadata = '{"sites":{}}' where id = ${taskId}`,
    ]) {
      expect((await asBrowser(user, statement)).error).toMatch(/permission denied/);
    }
    const replay = await call();
    expect(replay.status).toBe(200);
    expect(replay.body.data.result).toEqual(first.body.data.result);
    expect(JSON.stringify(replay.body)).not.toContain("forged");
  });
});

describe("resources of one workspace are not another's", () => {
  it("one workspace's hundred approvals leave another workspace's mailbox slot where it was", async () => {
    const busy = await business();
    const quiet = await business();
    const sqlDb = await service.serviceDb();
    const { draftHash } = await import("../lib/email/drafts");
    const leadRows = await sqlDb
      .insert(db.leads)
      .values(
        Array.from({ length: 100 }, (_, i) => ({
          workspace_id: busy.user,
          user_id: busy.user,
          name: `Owner ${i}`,
          email: `owner${i}-${randomUUID().slice(0, 6)}@busy.example`,
        })),
      )
      .returning();
    const text = (i: number) => ({ subject: `Hello ${i}`, body_text: "Hi", body_html: "<p>Hi</p>" });
    const drafts = await sqlDb
      .insert(db.emailEvents)
      .values(
        leadRows.map((row, i) => ({
          workspace_id: busy.user,
          user_id: busy.user,
          lead_id: row.id,
          event_type: "drafted",
          ...text(i),
          metadata: { checked_hash: draftHash(text(i)), facts_used: [], needs_review: false },
        })),
      )
      .returning({ id: db.emailEvents.id });
    const approved = await agent(busy.user, { event_ids: drafts.map((d) => d.id), mode: "send" });
    expect(approved.status, JSON.stringify(approved.body).slice(0, 400)).toBe(200);
    expect(approved.body.data.result.emails).toHaveLength(100);
    const queued = await sqlDb
      .select()
      .from(db.emailEvents)
      .where(
        inArray(
          db.emailEvents.id,
          drafts.map((d) => d.id),
        ),
      );
    // The busy mailbox's day is full (50 a day, 12 an hour, a minute apart): what does not fit in
    // the next day waits, approved, for the hourly planning.
    // (The first slot is now: it may have gone out already.)
    const slotted = queued.filter((row) => ["queued", "sending", "sent"].includes(row.event_type));
    expect(slotted.length).toBeGreaterThan(10);
    expect(slotted.length).toBeLessThanOrEqual(50);
    expect(
      queued.filter((row) => row.event_type === "approved"),
      JSON.stringify(
        queued.filter((row) => !["queued", "sending", "sent", "approved"].includes(row.event_type)),
      ),
    ).toHaveLength(100 - slotted.length);
    const latest = Math.max(
      ...slotted.map((row) => Date.parse(`${row.scheduled_at}`.replace(" ", "T").replace(/\+00$/, "Z"))),
    );
    expect(latest - Date.now()).toBeGreaterThan(3_600_000);
    expect(latest - Date.now()).toBeLessThanOrEqual(86_400_000);

    const theirs = await lead(quiet.user, quiet.user);
    const drafted = await agent(quiet.user, { lead_ids: [theirs.id], mode: "send" });
    const [row] = await sqlDb
      .select()
      .from(db.emailEvents)
      .where(eq(db.emailEvents.id, drafted.body.data.result.emails[0].id));
    expect(
      Date.parse(`${row?.scheduled_at}`.replace(" ", "T").replace(/\+00$/, "Z")) - Date.now(),
    ).toBeLessThan(5_000);
    expect(row?.from_email).toBe(quiet.account.mailbox);
  });

  it("an unsubscribe through one member's email stops every member's email to that address", async () => {
    const { user: owner } = await business();
    const member = await createUser();
    await addMember(owner, member, "member");
    const address = `shared-${randomUUID().slice(0, 6)}@cafe.example`;
    const ownersLead = await lead(owner, owner, address);
    const first = await agent(owner, { lead_ids: [ownersLead.id], mode: "send" });
    await dev.broker.settle(200, 60_000);
    expect(sentTo(address)).toHaveLength(1);
    const sqlDb = await service.serviceDb();
    const [sent] = await sqlDb
      .select()
      .from(db.emailEvents)
      .where(eq(db.emailEvents.id, first.body.data.result.emails[0].id));
    const mail = sentTo(address)[0]?.mime ?? "";
    const link = /List-Unsubscribe: <([^>]+)>/.exec(mail)?.[1] ?? "";
    expect(link).toContain("/api/unsubscribe?token=");
    const click = await fetch(`${dev.url}${new URL(link).pathname}${new URL(link).search}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    expect(click.status).toBe(200);
    expect(sent?.user_id).toBe(owner);

    // The member's own draft to the same address (the workspace's one lead for it) is stopped.
    const { draftHash } = await import("../lib/email/drafts");
    const text = { subject: "Another idea", body_text: "Hi again", body_html: "<p>Hi again</p>" };
    const [draft] = await sqlDb
      .insert(db.emailEvents)
      .values({
        workspace_id: owner,
        user_id: member,
        lead_id: ownersLead.id,
        event_type: "drafted",
        ...text,
        metadata: { checked_hash: draftHash(text), facts_used: [], needs_review: false },
      })
      .returning();
    const byMember = await agent(member, { workspace_id: owner, event_ids: [draft?.id], mode: "send" });
    expect(byMember.status, JSON.stringify(byMember.body)).toBe(200);
    // Its slot is a minute after the first email (the mailbox's pacing); the send-time check runs
    // first whenever it is delivered.
    const { deliverEmail } = await import("../lib/email/deliver");
    expect(await deliverEmail(draft?.id ?? "")).toMatchObject({ outcome: "cancelled" });
    const [stopped] = await sqlDb
      .select()
      .from(db.emailEvents)
      .where(eq(db.emailEvents.id, draft?.id ?? ""));
    expect(stopped?.event_type).toBe("cancelled");
    expect(stopped?.error).toContain("suppressed");
    expect(sentTo(address)).toHaveLength(1);
  });
});
