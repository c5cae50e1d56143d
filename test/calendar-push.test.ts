import { createHmac, randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { StandInGoogle } from "../dev/stand-ins/google";
import { timestampMs } from "../lib/db/timestamps";
import { addMember, createUser, secrets } from "./support/helpers";
import { connectGoogle, startTestStack, weekdayAt } from "./support/stack";

/**
 * Calendar push end to end through the dev server, its QStash broker and a stand-in Calendar API:
 * the hourly watch opens a channel; a notification for a new meeting with a known lead writes the
 * meeting, a call script citing the lead and a reminder; moving and cancelling move and cancel the
 * reminder; forged, unknown and replayed notifications change nothing; an expired sync token falls
 * back to a full sync; a channel near expiry is replaced before it lapses. The calendar is the
 * business workspace's (connected by its owner through the consent flow); its events are matched
 * against that workspace's leads only, never another workspace's.
 */
let dev: DevServer;
const google = new StandInGoogle();
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");
/** The business whose calendar this is: its owner, and the workspace (the owner's personal one). */
let owner = "";
let business = "";

/** A member of the business, whose leads are theirs. */
async function member(): Promise<string> {
  const user = await createUser();
  await addMember(business, user, "member");
  return user;
}

async function businessCalendar() {
  const sql = await service.serviceDb();
  const [row] = await sql.select().from(db.calendars).where(eq(db.calendars.workspace_id, business));
  return row;
}

beforeAll(async () => {
  await google.start();
  dev = await startTestStack(google.oauthEnv());
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
  owner = await createUser();
  business = owner;
  await connectGoogle(dev, google, google, owner);
  // The first hourly run opens the channel and does the first (full) sync.
  dev.broker.triggerSchedule("calendar-watch");
  await dev.broker.settle(200, 60_000);
});

afterAll(async () => {
  await dev?.close();
  await google.close();
});

async function knownLead(user: string, workspace = business) {
  const sql = await service.serviceDb();
  const [lead] = await sql
    .insert(db.leads)
    .values({
      workspace_id: workspace,
      user_id: user,
      name: "Tomas Berg",
      email: `tomas-${randomUUID().slice(0, 6)}@fjord-bakery.example`,
      company: "Fjord Bakery",
      role: "Head Baker",
      score: 77,
    })
    .returning();
  if (!lead?.email) {
    throw new Error("no lead");
  }
  return { ...lead, email: lead.email };
}

async function meetingsOf(user: string, googleId?: string) {
  const sql = await service.serviceDb();
  return sql
    .select()
    .from(db.calendarEvents)
    .where(
      and(
        eq(db.calendarEvents.user_id, user),
        googleId ? eq(db.calendarEvents.google_event_id, googleId) : undefined,
      ),
    );
}

type Reminder = { message_id: string | null; due_at: string; for_start: string; sent_at?: string };
const reminderOf = (row: { metadata: unknown } | undefined) =>
  ((row?.metadata ?? {}) as { reminder?: Reminder }).reminder;

async function push(headers: Record<string, string>) {
  const response = await fetch(`${dev.url}/webhook/calendar`, { method: "POST", headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function calendarWebhookRows() {
  const sql = await service.serviceDb();
  return sql.select().from(db.webhookEvents).where(eq(db.webhookEvents.source, "calendar"));
}

/** Delivers a calendar-worker job as QStash would, under a given message id. */
async function deliverJob(body: unknown, messageId: string) {
  const text = JSON.stringify(body);
  const url = `${process.env.APP_URL}/api/workers/calendar`;
  const response = await fetch(`${dev.url}/api/workers/calendar`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "upstash-signature": await dev.broker.sign(url, text, `jwt_${randomUUID()}`),
      "upstash-message-id": messageId,
    },
    body: text,
  });
  return { status: response.status, body: (await response.json()) as { data: { outcome: string } } };
}

/**
 * A reminder's QStash message is due at `due` (or a week on, QStash's longest delay, if that comes
 * first): its delay is computed from a clock reading somewhere between `from` and `to`, so the check
 * is bracketed by the two, however long a busy machine takes in between (plus a second for the delay
 * in whole seconds), instead of a fixed tolerance around a later reading.
 */
function expectDue(notBefore: number | undefined, due: number, from: number, to: number): void {
  const week = 7 * 86_400_000;
  expect(notBefore).toBeGreaterThanOrEqual(Math.min(due, from + week));
  expect(notBefore).toBeLessThanOrEqual(Math.min(due, to + week) + (to - from) + 1000);
}

describe("calendar push", () => {
  it("the hourly watch opens a signed channel to /webhook/calendar and records it; its sync message is acknowledged", async () => {
    const channel = google.liveChannel();
    expect(channel?.address).toBe(`${process.env.APP_URL}/webhook/calendar`);
    expect(channel?.ttl).toBe(604_800);
    const expected = createHmac("sha256", secrets.calendarChannelSecret)
      .update(`calendar-channel.v1.${channel?.id}`)
      .digest("base64url");
    expect(channel?.token).toBe(expected);
    const sql = await service.serviceDb();
    const [row] = await sql
      .select()
      .from(db.calendarChannels)
      .where(eq(db.calendarChannels.id, channel?.id ?? ""));
    const calendar = await businessCalendar();
    expect(row).toMatchObject({
      status: "active",
      resource_id: google.resourceId,
      calendar_id: calendar?.id,
    });
    expect(calendar?.google_calendar_id).toBe("primary");
    expect(timestampMs(row?.expires_at ?? "")).toBe(channel?.expiration);
    const state = await businessCalendar();
    expect(state?.sync_token).toMatch(/^sync-\d+$/);
    expect(state?.last_full_sync_at).toBeTruthy();

    const sync = await google.notify("sync");
    expect(sync).toMatchObject({ status: 200, body: { data: { outcome: "ignored" } } });
  });

  it("a new meeting with a known lead: the meeting is written, a call script cites the lead, a reminder is queued; a replay is a duplicate; another workspace with the same lead gets nothing", async () => {
    const user = await member();
    const lead = await knownLead(user);
    // Another workspace holds a lead with the very same address: the meeting is not theirs to see.
    const stranger = await createUser();
    await knownLead(stranger, stranger);
    const sqlBefore = await service.serviceDb();
    await sqlBefore.update(db.leads).set({ email: lead.email }).where(eq(db.leads.workspace_id, stranger));
    const start = weekdayAt(14, 3);
    const googleId = google.addMeeting({
      summary: "Tasting with Fjord Bakery",
      start,
      minutes: 45,
      attendees: [lead.email.toUpperCase(), "someone@unrelated.example"],
    });
    const channel = google.liveChannel();
    if (!channel) {
      throw new Error("no channel");
    }
    const headers = google.notificationHeaders(channel);
    const pushedAt = Date.now();
    const first = await push(headers);
    expect(first).toMatchObject({ status: 200, body: { data: { outcome: "processed" } } });
    await dev.broker.settle(200, 60_000);
    const settledAt = Date.now();

    const [meeting] = await meetingsOf(user, googleId);
    expect(meeting).toMatchObject({
      lead_id: lead.id,
      title: "Tasting with Fjord Bakery",
      status: "confirmed",
      sync_status: "synced",
      duration_minutes: 45,
      time_zone: "Europe/London",
      google_calendar_id: "primary",
    });
    expect(timestampMs(meeting?.start_time ?? "")).toBe(start.getTime());
    expect(meeting?.workspace_id).toBe(business);
    expect(await meetingsOf(stranger)).toHaveLength(0);
    const strangerRows = await sqlBefore
      .select()
      .from(db.calendarEvents)
      .where(eq(db.calendarEvents.workspace_id, stranger));
    expect(strangerRows).toHaveLength(0);
    expect(
      await sqlBefore.select().from(db.agentTasks).where(eq(db.agentTasks.workspace_id, stranger)),
    ).toHaveLength(0);

    const sql = await service.serviceDb();
    const [script] = await sql
      .select()
      .from(db.callScripts)
      .where(eq(db.callScripts.calendar_event_id, meeting?.id ?? ""));
    expect(script?.lead_id).toBe(lead.id);
    const cited = ((script?.sources ?? []) as { ref: string; text: string }[]).map((source) => source.ref);
    expect(cited).toEqual(expect.arrayContaining(["lead.name", "lead.role"]));
    expect(
      ((script?.sources ?? []) as { ref: string; text: string }[]).find((s) => s.ref === "lead.name")?.text,
    ).toBe("Tomas Berg");
    const [task] = await sql
      .select()
      .from(db.agentTasks)
      .where(
        and(
          eq(db.agentTasks.user_id, user),
          eq(db.agentTasks.external_id, `calendar-meeting-${meeting?.id}`),
        ),
      );
    expect(task?.status).toBe("completed");

    const reminder = reminderOf(meeting);
    expect(reminder?.due_at).toBe(new Date(start.getTime() - 30 * 60_000).toISOString());
    const queued = dev.broker.messages.get(reminder?.message_id ?? "");
    expect(JSON.parse(queued?.body ?? "{}")).toEqual({
      reminder: meeting?.id,
      for_start: start.toISOString(),
    });
    expectDue(queued?.notBefore, start.getTime() - 30 * 60_000, pushedAt, settledAt);

    // The same notification again: recorded once, no second sync.
    const lists = google.listCalls.length;
    const again = await push(headers);
    expect(again).toMatchObject({ status: 200, body: { data: { outcome: "duplicate" } } });
    await dev.broker.settle(200, 60_000);
    expect(google.listCalls.length).toBe(lists);
    expect(await meetingsOf(user)).toHaveLength(1);
    expect(
      await sql
        .select()
        .from(db.callScripts)
        .where(eq(db.callScripts.calendar_event_id, meeting?.id ?? "")),
    ).toHaveLength(1);
  });

  it("moving the meeting moves its reminder; cancelling it cancels the reminder, and the old one raises nothing", async () => {
    const user = await member();
    const lead = await knownLead(user);
    const googleId = google.addMeeting({
      summary: "Intro call",
      start: weekdayAt(10, 3),
      minutes: 30,
      attendees: [lead.email],
    });
    await google.notify();
    await dev.broker.settle(200, 60_000);
    const [created] = await meetingsOf(user, googleId);
    const firstReminder = reminderOf(created);
    expect(dev.broker.messages.has(firstReminder?.message_id ?? "")).toBe(true);

    const later = weekdayAt(15, 4);
    google.moveEvent(googleId, later, 60);
    const movedAt = Date.now();
    await google.notify();
    await dev.broker.settle(200, 60_000);
    const settledAt = Date.now();
    const [moved] = await meetingsOf(user, googleId);
    expect(timestampMs(moved?.start_time ?? "")).toBe(later.getTime());
    expect(moved?.duration_minutes).toBe(60);
    const movedReminder = reminderOf(moved);
    expect(movedReminder?.message_id).not.toBe(firstReminder?.message_id);
    expect(movedReminder?.due_at).toBe(new Date(later.getTime() - 30 * 60_000).toISOString());
    expect(dev.broker.messages.has(firstReminder?.message_id ?? "")).toBe(false);
    const movedMessage = dev.broker.messages.get(movedReminder?.message_id ?? "");
    expectDue(movedMessage?.notBefore, later.getTime() - 30 * 60_000, movedAt, settledAt);

    google.cancelEvent(googleId);
    await google.notify();
    await dev.broker.settle(200, 60_000);
    const [cancelled] = await meetingsOf(user, googleId);
    expect(cancelled?.status).toBe("cancelled");
    expect(reminderOf(cancelled)?.message_id).toBeNull();
    expect(dev.broker.messages.has(movedReminder?.message_id ?? "")).toBe(false);

    // Were either old message still delivered, it would raise nothing.
    for (const [id, start] of [
      [firstReminder?.message_id, firstReminder?.for_start],
      [movedReminder?.message_id, movedReminder?.for_start],
    ]) {
      const stale = await deliverJob({ reminder: created?.id, for_start: start }, id ?? "");
      expect(stale.body.data.outcome).toBe("stale");
    }
    const sql = await service.serviceDb();
    expect(
      await sql
        .select()
        .from(db.alerts)
        .where(and(eq(db.alerts.user_id, user), eq(db.alerts.type, "meeting.reminder"))),
    ).toHaveLength(0);
  });

  it("a reminder coming due raises one alert pointing at the call script, however often it is delivered", async () => {
    const user = await member();
    const lead = await knownLead(user);
    const start = new Date(Date.now() + 20 * 60_000);
    const googleId = google.addMeeting({
      summary: "Quick call",
      start,
      minutes: 15,
      attendees: [lead.email],
    });
    await google.notify();
    await dev.broker.settle(200, 60_000);
    const [meeting] = await meetingsOf(user, googleId);
    const reminder = reminderOf(meeting);
    expect(reminder?.sent_at).toBeTruthy();
    const sql = await service.serviceDb();
    const alertsOf = () =>
      sql
        .select()
        .from(db.alerts)
        .where(and(eq(db.alerts.user_id, user), eq(db.alerts.type, "meeting.reminder")));
    const [alert] = await alertsOf();
    expect(alert?.title).toMatch(/^Quick call in (19|20) minutes$/);
    expect(alert?.message).toContain("Tomas Berg (Fjord Bakery)");
    expect(alert?.message).toContain(meeting?.meeting_url ?? "?");
    const [script] = await sql
      .select()
      .from(db.callScripts)
      .where(eq(db.callScripts.calendar_event_id, meeting?.id ?? ""));
    expect(alert?.metadata).toMatchObject({ calendar_event_id: meeting?.id });
    // The script may be written after the reminder fired (both follow the same sync); if it was
    // ready, the alert points at it.
    const pointed = ((alert?.metadata ?? {}) as { call_script_id?: string | null }).call_script_id ?? null;
    expect(pointed === null || pointed === script?.id).toBe(true);

    const redelivered = await deliverJob(
      { reminder: meeting?.id, for_start: start.toISOString() },
      reminder?.message_id ?? "",
    );
    expect(redelivered.body.data.outcome).toBe("stale");
    expect(await alertsOf()).toHaveLength(1);
  });

  it("forged, unknown, mismatched and malformed notifications change nothing", async () => {
    const channel = google.liveChannel();
    if (!channel) {
      throw new Error("no channel");
    }
    const rows = (await calendarWebhookRows()).length;
    const lists = google.listCalls.length;
    const jobs = [...dev.broker.messages.values()].filter((m) =>
      m.url.endsWith("/api/workers/calendar"),
    ).length;
    const valid = google.notificationHeaders(channel);
    const otherId = randomUUID();
    const tokenFor = (id: string, secret = secrets.calendarChannelSecret) =>
      createHmac("sha256", secret).update(`calendar-channel.v1.${id}`).digest("base64url");

    const cases: [string, Record<string, string>, number][] = [
      ["no token", { ...valid, "x-goog-channel-token": "" }, 401],
      ["a wrong token", { ...valid, "x-goog-channel-token": `${valid["x-goog-channel-token"]}x` }, 401],
      [
        "a token under another secret",
        { ...valid, "x-goog-channel-token": tokenFor(channel.id, "another-secret-0123456789") },
        401,
      ],
      ["another channel's token", { ...valid, "x-goog-channel-token": tokenFor(otherId) }, 401],
      [
        "a channel we never opened",
        { ...valid, "x-goog-channel-id": otherId, "x-goog-channel-token": tokenFor(otherId) },
        404,
      ],
      ["another resource", { ...valid, "x-goog-resource-id": "res-elsewhere" }, 401],
      ["an unknown state", { ...valid, "x-goog-resource-state": "exploded" }, 400],
      ["no message number", { ...valid, "x-goog-message-number": "" }, 400],
    ];
    for (const [name, headers, status] of cases) {
      const answer = await push(headers);
      expect(answer.status, name).toBe(status);
      expect(answer.body, name).toMatchObject({ success: false, error: { code: expect.any(String) } });
    }
    await dev.broker.settle(200, 60_000);
    expect((await calendarWebhookRows()).length).toBe(rows);
    expect(google.listCalls.length).toBe(lists);
    expect(
      [...dev.broker.messages.values()].filter((m) => m.url.endsWith("/api/workers/calendar")).length,
    ).toBe(jobs);
  });

  it("every page of changes is read; an expired sync token (410) falls back to a full sync that misses nothing", async () => {
    const user = await member();
    const leads = [await knownLead(user), await knownLead(user), await knownLead(user)];
    const before = await businessCalendar();
    const ids = leads.map((lead, i) =>
      google.addMeeting({
        summary: `Call ${i}`,
        start: weekdayAt(9 + i, 5),
        minutes: 30,
        attendees: [lead.email],
      }),
    );
    const lists = google.listCalls.length;
    await google.notify();
    await dev.broker.settle(200, 60_000);
    const incremental = google.listCalls.slice(lists);
    expect(incremental.length).toBeGreaterThanOrEqual(2);
    expect(incremental.every((call) => call.syncToken === before?.sync_token)).toBe(true);
    for (const id of ids) {
      expect(await meetingsOf(user, id)).toHaveLength(1);
    }

    // Google forgets the token; meanwhile a meeting is added and another is deleted.
    google.oldestSyncSeq = Number.MAX_SAFE_INTEGER;
    const added = google.addMeeting({
      summary: "Late add",
      start: weekdayAt(13, 6),
      minutes: 30,
      attendees: [leads[0]?.email ?? ""],
    });
    google.events.delete(ids[1] ?? "");
    const fallback = google.listCalls.length;
    await google.notify();
    await dev.broker.settle(200, 60_000);
    google.oldestSyncSeq = 0;
    const calls = google.listCalls.slice(fallback);
    expect(calls[0]?.syncToken).toMatch(/^sync-/);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.slice(1).every((call) => call.syncToken === null)).toBe(true);
    expect(await meetingsOf(user, added)).toHaveLength(1);
    const [gone] = await meetingsOf(user, ids[1]);
    expect(gone?.status).toBe("cancelled");
    const after = await businessCalendar();
    expect(after?.sync_token).toMatch(/^sync-/);
    expect(after?.sync_token).not.toBe(before?.sync_token);
    expect(timestampMs(after?.last_full_sync_at ?? "")).toBeGreaterThan(
      timestampMs(before?.last_full_sync_at ?? ""),
    );
  });

  it("a channel near expiry is replaced before it lapses: the new one opened first, then the old stopped", async () => {
    const old = google.liveChannel();
    if (!old) {
      throw new Error("no channel");
    }
    const sql = await service.serviceDb();
    await sql
      .update(db.calendarChannels)
      .set({ expires_at: new Date(Date.now() + 2 * 3_600_000).toISOString() })
      .where(eq(db.calendarChannels.id, old.id));
    dev.broker.triggerSchedule("calendar-watch");
    await dev.broker.settle(200, 60_000);

    const current = google.liveChannel();
    expect(current?.id).not.toBe(old.id);
    expect(google.channels.get(old.id)?.stopped).toBe(true);
    const rows = await sql.select().from(db.calendarChannels);
    expect(rows.find((row) => row.id === old.id)).toMatchObject({ status: "stopped" });
    const fresh = rows.find((row) => row.id === current?.id);
    expect(fresh?.status).toBe("active");
    expect(timestampMs(fresh?.expires_at ?? "")).toBeGreaterThan(Date.now() + 6 * 86_400_000);

    // A late message on the old channel is ignored; the new channel works.
    expect(await push(google.notificationHeaders(old))).toMatchObject({
      status: 200,
      body: { data: { outcome: "ignored" } },
    });
    expect(await google.notify()).toMatchObject({ status: 200, body: { data: { outcome: "processed" } } });
    await dev.broker.settle(200, 60_000);

    // A run with time to spare replaces nothing.
    dev.broker.triggerSchedule("calendar-watch");
    await dev.broker.settle(200, 60_000);
    expect(google.liveChannel()?.id).toBe(current?.id);
  });

  it("the hourly run gives a meeting still missing its reminder one (a booking whose queue call failed)", async () => {
    const user = await member();
    const start = weekdayAt(16, 2);
    const sql = await service.serviceDb();
    const [meeting] = await sql
      .insert(db.calendarEvents)
      .values({
        workspace_id: business,
        user_id: user,
        title: "Booked while the queue was down",
        start_time: start.toISOString(),
      })
      .returning();
    expect(reminderOf(meeting)).toBeUndefined();
    dev.broker.triggerSchedule("calendar-watch");
    await dev.broker.settle(200, 60_000);
    const [after] = await sql
      .select()
      .from(db.calendarEvents)
      .where(eq(db.calendarEvents.id, meeting?.id ?? ""));
    const reminder = reminderOf(after);
    expect(reminder?.due_at).toBe(new Date(start.getTime() - 30 * 60_000).toISOString());
    expect(dev.broker.messages.has(reminder?.message_id ?? "")).toBe(true);
  });

  it("opening a channel that fails alerts the workspace's owners and admins, and answers 503 for QStash to retry", async () => {
    const user = await member();
    const lead = await knownLead(user);
    google.addMeeting({ summary: "Catch-up", start: weekdayAt(11, 7), minutes: 30, attendees: [lead.email] });
    await google.notify();
    await dev.broker.settle(200, 60_000);
    const sql = await service.serviceDb();
    await sql.update(db.calendarChannels).set({ expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    google.fail("calendar_watch_error");
    const events: number[] = [];
    const message = dev.broker.triggerSchedule("calendar-watch");
    await dev.broker.settle(200, 60_000);
    events.push(...message.attempts.map((attempt) => attempt.status ?? 0));
    expect(events[0]).toBe(503);
    expect(events.at(-1)).toBe(200);
    const warned = await sql
      .select()
      .from(db.alerts)
      .where(and(eq(db.alerts.user_id, owner), eq(db.alerts.type, "calendar.watch_failed")));
    expect(warned).toHaveLength(1);
    const memberWarned = await sql
      .select()
      .from(db.alerts)
      .where(and(eq(db.alerts.user_id, user), eq(db.alerts.type, "calendar.watch_failed")));
    expect(memberWarned).toHaveLength(0);
  });
});
