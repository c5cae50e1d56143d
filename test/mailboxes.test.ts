import { randomUUID } from "node:crypto";
import { and, eq, inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { StandInGoogle } from "../dev/stand-ins/google";
import { localTime } from "../lib/local-time";
import { addMember, createUser } from "./support/helpers";
import { connectGoogle, sessionApi, startTestStack } from "./support/stack";

/**
 * Several mailboxes per workspace, on the engine: first emails rotate between the workspace's
 * mailboxes (or a campaign's set), a follow-up stays on its thread's mailbox, a new mailbox ramps
 * (5 on its first day, 2 more a day), what does not fit in the next day waits approved for the hourly
 * planning, and each email arrives in its lead's local window (the zone recorded with its source).
 * The mailboxes' API: caps, ramp, pause and resume, campaign sets; members read, admins change.
 */
const google = new StandInGoogle();
let dev: DevServer;
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");

beforeAll(async () => {
  await google.start();
  dev = await startTestStack({
    ...google.oauthEnv(),
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

/** A business with `accounts` Google accounts connected to its personal workspace. */
async function business(accounts: number, options: { defaultWindow?: boolean } = {}) {
  const user = await createUser(undefined, undefined, options);
  const mailboxes: string[] = [];
  for (let i = 0; i < accounts; i++) {
    const account = google.addAccount();
    const landed = await connectGoogle(dev, google, account, user);
    expect(landed.searchParams.get("google")).toBe("connected");
    mailboxes.push(account.mailbox.toLowerCase());
  }
  return { user, mailboxes };
}

async function drafts(
  user: string,
  count: number,
  extra: {
    campaign_id?: string;
    sequence_step?: number;
    lead?: Record<string, unknown>;
    leadIds?: string[];
  } = {},
) {
  const sqlDb = await service.serviceDb();
  const { draftHash } = await import("../lib/email/drafts");
  const leadIds =
    extra.leadIds ??
    (
      await sqlDb
        .insert(db.leads)
        .values(
          Array.from({ length: count }, (_, i) => ({
            workspace_id: user,
            user_id: user,
            name: `Owner ${i}`,
            email: `owner${i}-${randomUUID().slice(0, 6)}@cafe.example`,
            ...extra.lead,
          })),
        )
        .returning({ id: db.leads.id })
    ).map((row) => row.id);
  const text = (i: number) => ({ subject: `Hello ${i}`, body_text: "Hi", body_html: "<p>Hi</p>" });
  const rows = await sqlDb
    .insert(db.emailEvents)
    .values(
      leadIds.map((leadId, i) => ({
        workspace_id: user,
        user_id: user,
        lead_id: leadId,
        event_type: "drafted",
        campaign_id: extra.campaign_id ?? null,
        sequence_step: extra.sequence_step ?? 0,
        ...text(i),
        metadata: { checked_hash: draftHash(text(i)), facts_used: [], needs_review: false },
      })),
    )
    .returning({ id: db.emailEvents.id, lead_id: db.emailEvents.lead_id });
  return rows.map((row) => ({ id: row.id, lead: row.lead_id as string }));
}

async function events(ids: string[]) {
  const sqlDb = await service.serviceDb();
  return sqlDb.select().from(db.emailEvents).where(inArray(db.emailEvents.id, ids));
}

async function mailboxIds(user: string) {
  const sqlDb = await service.serviceDb();
  const rows = await sqlDb.select().from(db.mailboxes).where(eq(db.mailboxes.workspace_id, user));
  return new Map(rows.map((row) => [row.address, row.id]));
}

const api = (...args: Parameters<ReturnType<typeof sessionApi>>) => sessionApi(dev)(...args);

async function campaign(user: string) {
  const sqlDb = await service.serviceDb();
  const [row] = await sqlDb
    .insert(db.campaigns)
    .values({
      workspace_id: user,
      user_id: user,
      name: `Launch ${randomUUID().slice(0, 4)}`,
      status: "active",
    })
    .returning({ id: db.campaigns.id });
  return row?.id as string;
}

describe("several mailboxes per workspace", () => {
  it("rotates first emails between the mailboxes; a campaign's set narrows them; a follow-up keeps its thread's", async () => {
    const { user, mailboxes } = await business(2);
    const { queueEmails } = await import("../lib/email/queueing");
    const first = await drafts(user, 6);
    const result = await queueEmails(
      user,
      first.map((d) => d.id),
    );
    expect(result.skipped).toEqual([]);
    const rows = await events(first.map((d) => d.id));
    const from = rows.map((row) => row.from_email);
    expect(from.filter((address) => address === mailboxes[0])).toHaveLength(3);
    expect(from.filter((address) => address === mailboxes[1])).toHaveLength(3);

    // A campaign that sends from the second mailbox only (set through the API, by the owner).
    const ids = await mailboxIds(user);
    const launch = await campaign(user);
    const set = await api(user, "PUT", `/api/workspaces/${user}/campaigns/${launch}/mailboxes`, {
      mailbox_ids: [ids.get(mailboxes[1] as string)],
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.data.mailbox_ids).toEqual([ids.get(mailboxes[1] as string)]);
    const narrowed = await drafts(user, 4, { campaign_id: launch });
    await queueEmails(
      user,
      narrowed.map((d) => d.id),
    );
    expect(new Set((await events(narrowed.map((d) => d.id))).map((row) => row.from_email))).toEqual(
      new Set([mailboxes[1]]),
    );
    // The campaign's set is now the first mailbox: the next step of those threads still goes from the second.
    await api(user, "PUT", `/api/workspaces/${user}/campaigns/${launch}/mailboxes`, {
      mailbox_ids: [ids.get(mailboxes[0] as string)],
    });
    const followUps = await drafts(user, 0, {
      campaign_id: launch,
      sequence_step: 1,
      leadIds: narrowed.map((d) => d.lead),
    });
    const queuedFollowUps = await queueEmails(
      user,
      followUps.map((d) => d.id),
    );
    expect(queuedFollowUps.queued).toHaveLength(4);
    expect(new Set((await events(followUps.map((d) => d.id))).map((row) => row.from_email))).toEqual(
      new Set([mailboxes[1]]),
    );

    // Another workspace's mailbox cannot join the set.
    const other = await business(1);
    const foreign = (await mailboxIds(other.user)).get(other.mailboxes[0] as string);
    const refused = await api(user, "PUT", `/api/workspaces/${user}/campaigns/${launch}/mailboxes`, {
      mailbox_ids: [foreign],
    });
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(refused.body.error.details.mailbox_ids).toEqual([foreign]);
  });

  it("ramps a new mailbox: 5 on its first day, the rest wait approved; the hourly planning gives them slots as it rises", async () => {
    const { user, mailboxes } = await business(1);
    const { queueEmails, planApproved } = await import("../lib/email/queueing");
    const batch = await drafts(user, 8);
    const result = await queueEmails(
      user,
      batch.map((d) => d.id),
      user,
    );
    expect(result.queued).toHaveLength(5);
    expect(result.waiting).toHaveLength(3);
    const waiting = (await events(batch.map((d) => d.id))).filter((row) => row.event_type === "approved");
    expect(waiting).toHaveLength(3);
    expect(waiting.every((row) => row.mailbox_id === null && row.scheduled_at === null)).toBe(true);
    expect((waiting[0]?.metadata as { approved_by?: string } | undefined)?.approved_by).toBe(user);

    const listed = await api(user, "GET", `/api/workspaces/${user}/mailboxes`);
    expect(listed.status).toBe(200);
    expect(listed.body.data[0]).toMatchObject({
      address: mailboxes[0],
      status: "ramping",
      today_cap: 5,
      daily_cap: 30,
      ramp_start: 5,
      ramp_step: 2,
    });
    // A day later the ramp allows 7 (and 9 from a minute short of a day on): the hourly planning
    // slots two of the three waiting now, the third when the ramp rises again.
    const sqlDb = await service.serviceDb();
    await sqlDb
      .update(db.mailboxes)
      .set({ ramp_started_at: sql`now() - interval '1 day 1 minute'` })
      .where(eq(db.mailboxes.workspace_id, user));
    const { log } = await import("../lib/log");
    const before = Date.now();
    const planned = await planApproved(log);
    expect(planned.failures).toEqual([]);
    const after = await events(batch.map((d) => d.id));
    expect(after.filter((row) => row.event_type === "approved")).toHaveLength(0);
    const slots = after
      .filter((row) => waiting.some((w) => w.id === row.id))
      .map((row) => Date.parse(`${row.scheduled_at}`.replace(" ", "T").replace(/\+00$/, "Z")))
      .sort((a, b) => a - b);
    // Now-ish: well before the ramp's next rise (a day on), however slow the machine.
    expect(slots[1]).toBeLessThan(before + 3_600_000);
    expect(slots[2]).toBeGreaterThan(before + 23 * 3_600_000);
    // Approval is kept as it was first recorded.
    expect(after.every((row) => (row.metadata as { approved_by?: string }).approved_by === user)).toBe(true);
  });

  it("plans each email inside its lead's local window, records the zone and its source, and holds an early delivery", async () => {
    const { user } = await business(1, { defaultWindow: true });
    const sqlDb = await service.serviceDb();
    // A one-hour window three hours from now in Tokyo, every day.
    const tokyoHour = Math.floor(localTime(Date.now(), "Asia/Tokyo").minutes / 60);
    const start = (tokyoHour + 3) % 24;
    const pad = (n: number) => String(n).padStart(2, "0");
    const hours = `${pad(start)}:00-${pad(start + 1)}:00`;
    await sqlDb
      .update(db.workspaces)
      .set({ sending_hours: hours, sending_days: "1-7", skip_holidays: false })
      .where(eq(db.workspaces.id, user));
    const [draft] = await drafts(user, 1, { lead: { location: "Shibuya, Tokyo, Japan" } });
    const { queueEmails } = await import("../lib/email/queueing");
    const result = await queueEmails(user, [draft?.id as string]);
    expect(result.queued).toHaveLength(1);
    const at = Date.parse(result.queued[0]?.scheduled_at ?? "");
    expect(at).toBeGreaterThan(Date.now() + 3_600_000);
    expect(localTime(at, "Asia/Tokyo").minutes).toBe(start * 60);
    const [lead] = await sqlDb
      .select()
      .from(db.leads)
      .where(eq(db.leads.id, draft?.lead as string));
    expect(lead).toMatchObject({ time_zone: "Asia/Tokyo", time_zone_source: "address", country: "JP" });
    // Delivered now (early), it waits for the opening instead of arriving out of hours.
    const { deliverEmail } = await import("../lib/email/deliver");
    const delivery = await deliverEmail(draft?.id as string);
    expect(delivery).toMatchObject({ outcome: "deferred", reason: "outside the lead's sending window" });
    expect(Date.parse((delivery as { until: string }).until)).toBe(at);
  });

  it("lets a member set a lead's zone (recorded as explicit, an unknown zone refused), never its source", async () => {
    const { user } = await business(0);
    const [draft] = await drafts(user, 1, { lead: { phone: "+49 30 1234567" } });
    const { asUser } = await import("../lib/db/as-user");
    const as = <T>(run: (tx: Parameters<Parameters<typeof asUser>[1]>[0]) => Promise<T>) =>
      asUser({ id: user, claims: {} }, run);
    await as((tx) =>
      tx.execute(
        sql`update public.leads set time_zone = 'America/Denver' where id = ${draft?.lead as string}`,
      ),
    );
    const sqlDb = await service.serviceDb();
    const read = async () =>
      (
        await sqlDb
          .select()
          .from(db.leads)
          .where(eq(db.leads.id, draft?.lead as string))
      )[0];
    expect(await read()).toMatchObject({ time_zone: "America/Denver", time_zone_source: "explicit" });
    await expect(
      as((tx) =>
        tx.execute(
          sql`update public.leads set time_zone = 'Mars/Olympus' where id = ${draft?.lead as string}`,
        ),
      ),
    ).rejects.toThrow();
    await expect(
      as((tx) =>
        tx.execute(
          sql`update public.leads set time_zone_source = 'phone' where id = ${draft?.lead as string}`,
        ),
      ),
    ).rejects.toThrow();
    // Queuing keeps the explicit zone (the phone says Germany).
    const { windowsOf } = await import("../lib/email/policy");
    const { workspaceRow } = await import("../lib/workspaces/access");
    const windows = await windowsOf(await workspaceRow(user), [
      (await read()) as NonNullable<Awaited<ReturnType<typeof read>>>,
    ]);
    expect(windows.get(draft?.lead as string)?.timeZone).toBe("America/Denver");
    expect(await read()).toMatchObject({ time_zone: "America/Denver", time_zone_source: "explicit" });
  });
});

describe("the mailboxes' API", () => {
  it("admins change caps and ramps and pause and resume; members read; bad input is a 400", async () => {
    const { user, mailboxes } = await business(1);
    const member = await createUser();
    await addMember(user, member, "member");
    const id = (await mailboxIds(user)).get(mailboxes[0] as string);
    const path = `/api/workspaces/${user}/mailboxes/${id}`;
    const byMember = await api(member, "PATCH", path, { daily_cap: 10 });
    expect(byMember.status, JSON.stringify(byMember.body)).toBe(403);
    expect((await api(member, "GET", `/api/workspaces/${user}/mailboxes`)).status).toBe(200);
    for (const bad of [{ daily_cap: 0 }, { hourly_cap: 9000 }, {}, { ramp_start: 5, status: "active" }]) {
      const refused = await api(user, "PATCH", path, bad);
      expect(refused.status, JSON.stringify(refused.body)).toBe(400);
      expect(refused.body.success).toBe(false);
    }
    const changed = await api(user, "PATCH", path, { daily_cap: 40, ramp_start: 40 });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.data).toMatchObject({
      daily_cap: 40,
      today_cap: 40,
      status: "active",
      ramp_ends_at: expect.any(String),
    });
    const restarted = await api(user, "PATCH", path, { ramp_start: 10, ramp_step: 5, restart_ramp: true });
    expect(restarted.body.data).toMatchObject({ status: "ramping", today_cap: 10 });
    const paused = await api(user, "POST", `${path}/pause`, { reason: "new domain, warming up by hand" });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body.data).toMatchObject({
      status: "paused",
      pause_reason: "new domain, warming up by hand",
      paused_until: "9999-12-31T00:00:00.000Z",
    });
    const past = await api(user, "POST", `${path}/pause`, { until: "2020-01-01T00:00:00Z" });
    expect(past.status, JSON.stringify(past.body)).toBe(400);
    const resumed = await api(user, "POST", `${path}/resume`);
    expect(resumed.body.data).toMatchObject({ status: "ramping", paused_until: null });
    // A mailbox of another workspace is not found through this one.
    const other = await business(1);
    const foreign = (await mailboxIds(other.user)).get(other.mailboxes[0] as string);
    const notHere = await api(user, "PATCH", `/api/workspaces/${user}/mailboxes/${foreign}`, {
      daily_cap: 5,
    });
    expect(notHere.status).toBe(404);
    const sqlDb = await service.serviceDb();
    const [untouched] = await sqlDb
      .select()
      .from(db.mailboxes)
      .where(and(eq(db.mailboxes.id, foreign as string)));
    expect(untouched?.daily_cap).toBe(30);
  });

  it("the workspace's sending window is a setting of its own, validated", async () => {
    const { user } = await business(0);
    const set = await api(user, "PATCH", `/api/workspaces/${user}`, {
      sending_hours: "08:30-18:00",
      sending_days: "1-4",
      skip_holidays: false,
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.data).toMatchObject({
      sending_hours: "08:30-18:00",
      sending_days: "1-4",
      skip_holidays: false,
    });
    for (const bad of [{ sending_hours: "18:00-08:00" }, { sending_hours: "9-5" }, { sending_days: "0-8" }]) {
      const refused = await api(user, "PATCH", `/api/workspaces/${user}`, bad);
      expect(refused.status, JSON.stringify(refused.body)).toBe(400);
    }
    // Written directly by the browser (a column it may write), a window that never opens is refused too.
    const { asUser } = await import("../lib/db/as-user");
    await expect(
      asUser({ id: user, claims: {} }, (tx) =>
        tx.execute(sql`update public.workspaces set sending_hours = '18:00-08:00' where id = ${user}`),
      ),
    ).rejects.toThrow();
    const sqlDb = await service.serviceDb();
    const [row] = await sqlDb.select().from(db.workspaces).where(eq(db.workspaces.id, user));
    expect(row?.sending_hours).toBe("08:30-18:00");
  });
});
