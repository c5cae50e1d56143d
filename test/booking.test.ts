import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { StandInGoogle } from "../dev/stand-ins/google";
import type { FunctionExports } from "../lib/http/handler";
import { call, createUser, tokenFor } from "./support/helpers";
import { newBusiness, startTestStack, weekdayAt } from "./support/stack";

/**
 * Booking and call prep against the stand-in Google APIs (Calendar freebusy and events): a free
 * time booked once with the lead invited and a Meet link, a busy time refused with free proposals
 * inside working hours in the caller's time zone, the first free slot booked on request, an account
 * without Meet, a workspace with no Google account, and call scripts citing only sources that exist.
 * Each business is a workspace with its own account, connected through the OAuth consent flow. Then the
 * calendar's push channel (test/calendar-push.test.ts covers notifications): every booked meeting
 * has its reminder queued in the dev stack's QStash broker.
 */
const google = new StandInGoogle();
let dev: DevServer;
let fn: FunctionExports;
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");

beforeAll(async () => {
  await google.start();
  dev = await startTestStack(google.oauthEnv());
  fn = await import("../api/agents/booking-callprep");
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
});

afterAll(async () => {
  await dev?.close();
  await google.close();
});

/** A new business: a user whose workspace has its own stand-in Google account, connected by OAuth. */
const business = () => newBusiness(dev, google);

async function leadWithThread(user: string) {
  const sql = await service.serviceDb();
  const [lead] = await sql
    .insert(db.leads)
    .values({
      workspace_id: user,
      user_id: user,
      name: "Priya Raman",
      email: `priya-${randomUUID().slice(0, 6)}@harbour-cafe.example`,
      company: "Harbour Cafe",
      role: "Owner",
      location: "Bristol",
      score: 82,
      score_reasons: [
        { factor: "role_fit", points: 25, max: 25, reason: 'role "Owner" matches the target roles' },
      ],
    })
    .returning();
  await sql.insert(db.emailEvents).values([
    {
      workspace_id: user,
      user_id: user,
      lead_id: lead?.id,
      event_type: "sent",
      subject: "Fresh coffee for Harbour Cafe",
      body_text: "Weekly deliveries?",
      created_at: new Date(Date.now() - 2 * 86_400_000).toISOString(),
    },
    {
      workspace_id: user,
      user_id: user,
      lead_id: lead?.id,
      event_type: "replied",
      subject: "Re: Fresh coffee",
      body_text: "Interested, we use 20 kg a week.",
      created_at: new Date(Date.now() - 86_400_000).toISOString(),
    },
  ]);
  await sql.insert(db.productInsights).values({
    workspace_id: user,
    user_id: user,
    title: "Cafes reorder every three weeks",
    content: "Reminders cut stock-outs.",
  });
  return lead;
}

async function bookingCall(user: string, body: Record<string, unknown>, key = randomUUID()) {
  return call(fn, "POST", "/api/agents/booking-callprep", {
    token: await tokenFor(user),
    body: { user_id: user, ...body },
    headers: { "idempotency-key": key },
  });
}

describe("booking and call prep", () => {
  it("books a free requested time once, invites the lead with a Meet link, and grounds the script", async () => {
    const { user, account } = await business();
    const lead = await leadWithThread(user);
    const start = weekdayAt(10, 8);
    const key = randomUUID();
    const body = {
      lead_id: lead?.id,
      scheduled_time: start.toISOString(),
      duration_minutes: 45,
      time_zone: "UTC",
    };
    const before = Date.now();
    const first = await bookingCall(user, body, key);
    const after = Date.now();
    expect(first.status).toBe(200);
    const result = first.body.data as {
      result: {
        response: string;
        booking: { booked: boolean; google_event_id: string; meeting_url: string; calendar_event_id: string };
        call_script: {
          id: string;
          opening: { sources: string[] };
          discovery_questions: { sources: string[] }[];
        };
      };
    };
    const { booking, call_script: script } = result.result;
    expect(booking.booked).toBe(true);
    expect(booking.meeting_url).toMatch(/^https:\/\/meet\.google\.com\//);
    const event = account.events.get(booking.google_event_id);
    expect(event).toMatchObject({
      start: { dateTime: start.toISOString(), timeZone: "UTC" },
      end: { dateTime: new Date(start.getTime() + 45 * 60_000).toISOString() },
      attendees: [{ email: lead?.email }],
      summary: "Discovery call with Priya Raman (Harbour Cafe)",
    });
    const sql = await service.serviceDb();
    const [row] = await sql
      .select()
      .from(db.calendarEvents)
      .where(eq(db.calendarEvents.id, booking.calendar_event_id));
    expect(row).toMatchObject({
      lead_id: lead?.id,
      sync_status: "synced",
      google_event_id: booking.google_event_id,
      google_calendar_id: "primary",
      duration_minutes: 45,
      meeting_url: booking.meeting_url,
    });
    // The reminder: one delayed QStash message, due 30 minutes before the start (a meeting more than
    // a week out is carried in hops: QStash delays a message by a week at most).
    const reminder = (row?.metadata ?? {}) as { reminder?: { message_id: string; due_at: string } };
    expect(reminder.reminder?.due_at).toBe(new Date(start.getTime() - 30 * 60_000).toISOString());
    const queued = dev.broker.messages.get(reminder.reminder?.message_id ?? "");
    expect(queued?.url).toBe(`${process.env.APP_URL}/api/workers/calendar`);
    expect(JSON.parse(queued?.body ?? "{}")).toEqual({
      reminder: booking.calendar_event_id,
      for_start: start.toISOString(),
    });
    // Its delay is computed from a clock reading inside the call: bracketed by the call's start and
    // end, so the check holds however long a busy machine takes for it (plus a second for the delay
    // in whole seconds).
    const due = start.getTime() - 30 * 60_000;
    const week = 7 * 86_400_000;
    expect(queued?.notBefore).toBeGreaterThanOrEqual(Math.min(due, before + week));
    expect(queued?.notBefore).toBeLessThanOrEqual(Math.min(due, after + week) + (after - before) + 1000);

    // Sources: the lead's fields, the thread and the insight; the made-up "lead.revenue" is dropped.
    expect(script.opening.sources).toEqual(["lead.name", "lead.role"]);
    expect(script.discovery_questions[0]?.sources).toEqual(["email.1", "email.2"]);
    expect(script.discovery_questions[1]?.sources).toEqual([]);
    const [saved] = await sql.select().from(db.callScripts).where(eq(db.callScripts.id, script.id));
    expect(saved?.calendar_event_id).toBe(booking.calendar_event_id);
    expect(saved?.metadata).toEqual({ uncited_refs_dropped: ["lead.revenue"] });
    const savedSources = (saved?.sources ?? []) as { ref: string; text: string }[];
    expect(savedSources.map((s) => s.ref).sort()).toEqual([
      "email.1",
      "email.2",
      "insight.1",
      "lead.name",
      "lead.role",
    ]);
    expect(savedSources.find((s) => s.ref === "email.2")?.text).toContain("20 kg a week");
    expect(result.result.response).toContain(`Booked for ${start.toISOString()}`);

    const inserts = account.insertCalls;
    const again = await bookingCall(user, body, key);
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(account.insertCalls).toBe(inserts);
    await dev.broker.settle(200, 60_000);
    // One booking through the API: one task, one meeting, one call script, one reminder.
    expect(
      await sql.select().from(db.calendarEvents).where(eq(db.calendarEvents.user_id, user)),
    ).toHaveLength(1);
    expect(await sql.select().from(db.agentTasks).where(eq(db.agentTasks.user_id, user))).toHaveLength(1);
    expect(await sql.select().from(db.callScripts).where(eq(db.callScripts.user_id, user))).toHaveLength(1);
    const reminders = [...dev.broker.messages.values()].filter(
      (message) =>
        message.url.endsWith("/api/workers/calendar") && message.body.includes(booking.calendar_event_id),
    );
    expect(reminders).toHaveLength(1);
  });

  it("a busy time is not booked; free slots inside working hours in the caller's time zone are proposed", async () => {
    const { user, account } = await business();
    const lead = await leadWithThread(user);
    // 14:00–15:00 UTC is 09:00–10:00 in New York in winter, 10:00–11:00 in summer: block both.
    const busyStart = weekdayAt(13, 8);
    account.busy.push({
      start: busyStart.toISOString(),
      end: new Date(busyStart.getTime() + 3 * 3_600_000).toISOString(),
    });
    const inserts = account.insertCalls;
    const response = await bookingCall(user, {
      lead_id: lead?.id,
      scheduled_time: new Date(busyStart.getTime() + 3_600_000).toISOString(),
      time_zone: "America/New_York",
    });
    expect(response.status).toBe(200);
    const booking = (
      response.body.data as {
        result: { booking: { booked: boolean; reason: string; proposals: { start: string }[] } };
      }
    ).result.booking;
    expect(booking.booked).toBe(false);
    expect(booking.reason).toBe("the requested time is not free");
    expect(booking.proposals).toHaveLength(3);
    for (const proposal of booking.proposals) {
      const start = Date.parse(proposal.start);
      expect(start >= busyStart.getTime() + 3 * 3_600_000 || start + 30 * 60_000 <= busyStart.getTime()).toBe(
        true,
      );
      const local = new Intl.DateTimeFormat("en-US", {
        timeZone: "America/New_York",
        hour: "numeric",
        hourCycle: "h23",
        weekday: "short",
      }).formatToParts(new Date(start));
      const hour = Number(local.find((p) => p.type === "hour")?.value);
      expect(hour).toBeGreaterThanOrEqual(9);
      expect(hour).toBeLessThan(17);
      expect(["Sat", "Sun"]).not.toContain(local.find((p) => p.type === "weekday")?.value);
    }
    expect(account.insertCalls).toBe(inserts);
  });

  it("books the first free slot of a window when asked; without Meet the meeting is booked without a link", async () => {
    const { user, account } = await business();
    const lead = await leadWithThread(user);
    const day = weekdayAt(0, 9);
    account.busy.push({
      start: new Date(day.getTime() + 9 * 3_600_000).toISOString(),
      end: new Date(day.getTime() + 10 * 3_600_000).toISOString(),
    });
    account.meetSupported = false;
    const response = await bookingCall(user, {
      lead_id: lead?.id,
      window: { earliest: day.toISOString(), latest: new Date(day.getTime() + 86_400_000).toISOString() },
      time_zone: "UTC",
      book_first_free: true,
    });
    const booking = (
      response.body.data as {
        result: { booking: { booked: boolean; start: string; meeting_url: string | null } };
      }
    ).result.booking;
    expect(booking).toMatchObject({
      booked: true,
      start: new Date(day.getTime() + 10 * 3_600_000).toISOString(),
      meeting_url: null,
    });
  });

  it("refuses what it cannot act on before anything is stored", async () => {
    const user = await createUser();
    const stranger = await createUser();
    const theirs = await leadWithThread(stranger);
    expect((await bookingCall(user, { time_zone: "Mars/Olympus" })).status).toBe(400);
    expect(
      (
        await bookingCall(user, {
          window: { earliest: weekdayAt(12, 8).toISOString(), latest: weekdayAt(9, 8).toISOString() },
        })
      ).status,
    ).toBe(400);
    expect((await bookingCall(user, { scheduled_time: "next tuesday" })).status).toBe(400);
    const other = await bookingCall(user, { lead_id: theirs?.id });
    expect(other.status).toBe(404);
    const both = await bookingCall(user, {
      calendar_event_id: randomUUID(),
      scheduled_time: weekdayAt(10, 8).toISOString(),
    });
    expect(both.status).toBe(400);
    expect((await bookingCall(user, { calendar_event_id: randomUUID() })).status).toBe(404);
  });

  it("a workspace with no Google account: the row says the calendar was not touched, and call prep still works", async () => {
    {
      const user = await createUser();
      const lead = await leadWithThread(user);
      const start = weekdayAt(11, 8);
      const inserts = google.accounts.reduce((sum, account) => sum + account.insertCalls, 0);
      const response = await bookingCall(user, { lead_id: lead?.id, scheduled_time: start.toISOString() });
      expect(response.status).toBe(200);
      const result = (
        response.body.data as {
          result: {
            response: string;
            booking: { booked: boolean; calendar_touched: boolean; calendar_event_id: string };
            call_script: { id: string };
          };
        }
      ).result;
      expect(result.booking).toMatchObject({ booked: true, calendar_touched: false });
      expect(result.response).toContain("not in Google Calendar");
      expect(result.call_script.id).toBeTruthy();
      expect(google.accounts.reduce((sum, account) => sum + account.insertCalls, 0)).toBe(inserts);
      const [row] = await (await service.serviceDb())
        .select()
        .from(db.calendarEvents)
        .where(eq(db.calendarEvents.id, result.booking.calendar_event_id));
      expect(row).toMatchObject({ sync_status: "not_synced", google_event_id: null });
    }
  });
});
