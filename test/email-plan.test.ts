import { describe, expect, it } from "vitest";
import { loadLeadZones } from "../lib/email/lead-zone";
import { pacingViolations } from "../lib/email/pacing";
import { planBatch } from "../lib/email/plan";
import { isInWindow, type LeadWindow, leadWindow, nextOpening } from "../lib/email/window";
import { localTime } from "../lib/local-time";
import { monthReport, simulateMonth } from "./support/month";

const hour = 3_600_000;
const weekdays = { sending_hours: "09:00-17:00", sending_days: "1-5", skip_holidays: true };

describe("sending windows in the lead's local time", () => {
  it("opens at 09:00 local on both sides of a daylight-saving change (Intl, not a fixed offset)", async () => {
    const newYork = await leadWindow(weekdays, { timeZone: "America/New_York", country: "US" });
    // Friday 30 October 2026, 22:00 UTC = 18:00 EDT: after hours; Monday 2 November is EST (UTC-5).
    const opening = nextOpening(Date.UTC(2026, 9, 30, 22), newYork);
    expect(new Date(opening).toISOString()).toBe("2026-11-02T14:00:00.000Z");
    // The Monday before, still EDT (UTC-4).
    expect(new Date(nextOpening(Date.UTC(2026, 9, 26, 3), newYork)).toISOString()).toBe(
      "2026-10-26T13:00:00.000Z",
    );
    expect(isInWindow(Date.UTC(2026, 10, 2, 21, 59), newYork)).toBe(true);
    expect(isInWindow(Date.UTC(2026, 10, 2, 22, 0), newYork)).toBe(false);
  });

  it("skips the public holidays of the lead's country, unless the workspace sends on them", async () => {
    const us = await leadWindow(weekdays, { timeZone: "America/New_York", country: "US" });
    // Thanksgiving, Thursday 26 November 2026: the next opening is Friday's.
    expect(new Date(nextOpening(Date.UTC(2026, 10, 26, 15), us)).toISOString()).toBe(
      "2026-11-27T14:00:00.000Z",
    );
    const always = await leadWindow(
      { ...weekdays, skip_holidays: false },
      { timeZone: "America/New_York", country: "US" },
    );
    expect(isInWindow(Date.UTC(2026, 10, 26, 15), always)).toBe(true);
    // A zone without a known country has no holidays to skip.
    const unknown = await leadWindow(weekdays, { timeZone: "America/New_York", country: null });
    expect(isInWindow(Date.UTC(2026, 10, 26, 15), unknown)).toBe(true);
  });

  it("handles half-hour offsets and a window that never opens", async () => {
    const kolkata = await leadWindow(weekdays, { timeZone: "Asia/Kolkata", country: "IN" });
    // Tuesday 1 December 2026 00:00 UTC is 05:30 IST: opens at 09:00 IST = 03:30 UTC.
    expect(new Date(nextOpening(Date.UTC(2026, 11, 1), kolkata)).toISOString()).toBe(
      "2026-12-01T03:30:00.000Z",
    );
    const closed: LeadWindow = { ...kolkata, hours: { start: 600, end: 600, days: [1] }, key: "closed" };
    expect(nextOpening(0, closed)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("a lead's time zone, with where it came from", () => {
  it("prefers an explicit zone, then the address, the phone, the ccTLD, the workspace", async () => {
    const zones = await loadLeadZones();
    const infer = (lead: Parameters<typeof zones.infer>[0]) => zones.infer(lead, "Europe/Paris");
    expect(infer({ time_zone: "Asia/Tokyo", time_zone_source: "explicit", location: "Austin, TX" })).toEqual({
      timeZone: "Asia/Tokyo",
      source: "explicit",
      country: null,
    });
    expect(infer({ location: "500 Congress Ave, Austin, TX 78701, USA", phone: "+44 20 7946 0000" })).toEqual(
      {
        timeZone: "America/Chicago",
        source: "address",
        country: "US",
      },
    );
    // A city that exists in several countries is the one in the country named.
    expect(infer({ location: "London, Ontario, Canada" })).toMatchObject({
      timeZone: "America/Toronto",
      country: "CA",
    });
    expect(infer({ location: "London, United Kingdom" })).toMatchObject({
      timeZone: "Europe/London",
      country: "GB",
    });
    expect(infer({ location: "Seattle, Washington" })).toMatchObject({ timeZone: "America/Los_Angeles" });
    // A country alone: its most populous city's zone.
    expect(infer({ location: "Germany" })).toMatchObject({
      timeZone: "Europe/Berlin",
      source: "address",
      country: "DE",
    });
    expect(infer({ phone: "+81 3-1234-5678" })).toEqual({
      timeZone: "Asia/Tokyo",
      source: "phone",
      country: "JP",
    });
    expect(infer({ email: "anna@firma.de" })).toEqual({
      timeZone: "Europe/Berlin",
      source: "domain",
      country: "DE",
    });
    expect(infer({ website: "https://shop.example.co.uk/contact" })).toMatchObject({
      source: "domain",
      country: "GB",
    });
    // .io and .co say nothing of a place; nor does .com.
    expect(infer({ email: "team@startup.io", website: "https://startup.co" })).toEqual({
      timeZone: "Europe/Paris",
      source: "workspace",
      country: null,
    });
    // A stored inference is not trusted as explicit: it is derived again.
    expect(infer({ time_zone: "Asia/Tokyo", time_zone_source: "domain", email: "a@firma.de" })).toMatchObject(
      {
        timeZone: "Europe/Berlin",
      },
    );
  });
});

describe("planning a batch over several mailboxes", () => {
  const rules = { dailyCap: 100, hourlyCap: 100, minGapMs: 60_000, jitterMs: 0 };
  const open = async () =>
    leadWindow(
      { sending_hours: "00:00-24:00", sending_days: "1-7", skip_holidays: false },
      { timeZone: "UTC", country: null },
    );

  it("rotates first emails, keeps a thread on its mailbox, and puts earlier emails first", async () => {
    const window = await open();
    const now = Date.UTC(2026, 11, 1, 12);
    const { planned, waiting, unplaced } = planBatch(
      [
        { id: "a", rules, taken: [] },
        { id: "b", rules, taken: [] },
      ],
      [
        { id: "follow-up", mailboxes: ["b"], window },
        ...Array.from({ length: 6 }, (_, i) => ({ id: `first-${i}`, mailboxes: ["a", "b"], window })),
      ],
      now,
      { random: () => 0 },
    );
    expect(unplaced).toEqual([]);
    expect(waiting).toEqual([]);
    const followUp = planned.find((slot) => slot.id === "follow-up");
    expect(followUp).toMatchObject({ mailbox: "b", at: now });
    const firsts = planned.filter((slot) => slot.id.startsWith("first-"));
    expect(firsts.filter((slot) => slot.mailbox === "a")).toHaveLength(3);
    expect(firsts.filter((slot) => slot.mailbox === "b")).toHaveLength(3);
    expect(
      pacingViolations(
        planned.filter((s) => s.mailbox === "b").map((s) => s.at),
        rules,
      ),
    ).toEqual([]);
  });

  it("leaves what does not fit before `until` waiting, and refuses an email no usable mailbox may send", async () => {
    const window = await open();
    const now = Date.UTC(2026, 11, 1, 12);
    const { planned, waiting, unplaced } = planBatch(
      [{ id: "a", rules: { ...rules, minGapMs: hour }, taken: [] }],
      [
        ...Array.from({ length: 5 }, (_, i) => ({ id: `e${i}`, mailboxes: ["a"], window })),
        { id: "thread-elsewhere", mailboxes: ["gone"], window },
      ],
      now,
      { random: () => 0, until: now + 2 * hour },
    );
    expect(planned.map((slot) => slot.id)).toEqual(["e0", "e1", "e2"]);
    expect(waiting).toEqual(["e3", "e4"]);
    expect(unplaced).toEqual([{ id: "thread-elsewhere", reason: "no mailbox it may be sent from can send" }]);
  });

  it("does not let one lead's closed window hold up a lead whose window is open", async () => {
    const utc = await open();
    const tokyo = await leadWindow(weekdays, { timeZone: "Asia/Tokyo", country: "JP" });
    // Tuesday 1 December 2026 12:00 UTC is 21:00 in Tokyo: closed until 09:00 JST (00:00 UTC).
    const now = Date.UTC(2026, 11, 1, 12);
    const { planned } = planBatch(
      [{ id: "a", rules, taken: [] }],
      [
        { id: "tokyo", mailboxes: ["a"], window: tokyo },
        { id: "here", mailboxes: ["a"], window: utc },
      ],
      now,
      { random: () => 0 },
    );
    expect(planned.find((slot) => slot.id === "here")?.at).toBe(now);
    expect(new Date(planned.find((slot) => slot.id === "tokyo")?.at ?? 0).toISOString()).toBe(
      "2026-12-02T00:00:00.000Z",
    );
  });
});

describe("a simulated month: 3 mailboxes (one new), 5,000 leads in eight zones across two DST changes", () => {
  it("keeps every mailbox under its day's cap and every send in its lead's window; threads stay; rotation is even", async () => {
    const run = await simulateMonth(5000, 7);
    const report = monthReport(run);
    const day = 86_400_000;
    for (const [id, rules] of run.rules) {
      const times = run.sends.filter((send) => send.mailbox === id).map((send) => send.at);
      expect(pacingViolations(times, rules), id).toEqual([]);
    }
    // The new mailbox's ramp: at most 5 on its first day, 7 on its second.
    const newTimes = run.sends.filter((send) => send.mailbox === "new").map((send) => send.at);
    expect(newTimes.filter((t) => t < run.start + day).length).toBeLessThanOrEqual(5);
    expect(
      newTimes.filter((t) => t >= run.start + day && t < run.start + 2 * day).length,
    ).toBeLessThanOrEqual(7);
    const outside = run.sends.filter((send) => !isInWindow(send.at, run.windows[send.lead] as LeadWindow));
    expect(outside.slice(0, 3)).toEqual([]);
    // Threads continue from the mailbox that started them.
    const firstFrom = new Map(run.sends.filter((s) => s.step === 0).map((s) => [s.lead, s.mailbox]));
    const followUps = run.sends.filter((send) => send.step === 1);
    expect(followUps.length).toBeGreaterThan(300);
    expect(followUps.filter((send) => firstFrom.get(send.lead) !== send.mailbox)).toEqual([]);
    // The same local hours on both sides of each change: New York (1 Nov) and Berlin (25 Oct).
    for (const [zone, change] of [
      ["America/New_York", Date.UTC(2026, 10, 1, 6)],
      ["Europe/Berlin", Date.UTC(2026, 9, 25, 1)],
    ] as const) {
      const mine = run.sends.filter((send) => run.windows[send.lead]?.timeZone === zone);
      for (const side of [mine.filter((s) => s.at < change), mine.filter((s) => s.at >= change)]) {
        expect(side.length).toBeGreaterThan(30);
        const hours = side.map((send) => localTime(send.at, zone).minutes / 60);
        expect(Math.min(...hours)).toBeGreaterThanOrEqual(9);
        expect(Math.max(...hours)).toBeLessThan(17);
      }
    }
    // No email on Veterans Day in the US or on Culture Day in Japan, local dates.
    for (const [zone, date] of [
      ["America/New_York", "2026-11-11"],
      ["Asia/Tokyo", "2026-11-03"],
    ] as const) {
      const onHoliday = run.sends.filter(
        (send) => run.windows[send.lead]?.timeZone === zone && localTime(send.at, zone).date === date,
      );
      expect(onHoliday).toEqual([]);
    }
    // Rotation: the two established mailboxes share first emails evenly; the ramping one has fewer.
    expect(report.established_spread).toBeLessThan(0.05);
    const perMailbox = report.per_mailbox as Record<string, { first_emails: number; sends: number }>;
    expect(perMailbox.new?.first_emails).toBeLessThan(perMailbox["established-1"]?.first_emails ?? 0);
    expect(perMailbox.new?.first_emails).toBeGreaterThan(0);
    expect(report.unplaced).toBe(0);
  });
});
