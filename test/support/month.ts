/**
 * A simulated month of outbound email, run by the pacing bench and by test/email-plan.test.ts with
 * the planner and send-time checks that queuing and the worker run: 3 mailboxes (one new, ramping
 * from 5 a day by 2 a day to 30), 5,000 leads in eight time zones (both hemispheres, a half-hour
 * offset, zones that leave summer time on 25 October and 1 November 2026), sending Monday to Friday,
 * 09:00–17:00 in each lead's local time, skipping its country's public holidays.
 *
 * Day 0 approves every first email; day 7 a follow-up for each lead emailed by then, pinned to the
 * mailbox that started its thread. As in production, approved emails get slots a day ahead at most,
 * topped up every hour, follow-ups first. Each planned send is delivered late by up to 5 s and checked
 * again at that moment (window, pacing); a refused send is deferred to the instant it names.
 */
import type { PacingRules } from "../../lib/email/pacing";
import { earliestSlot } from "../../lib/email/pacing";
import { type PlanEmail, planBatch } from "../../lib/email/plan";
import { type LeadWindow, leadWindow, nextOpening } from "../../lib/email/window";
import { seeded } from "./random";

const day = 86_400_000;
/** How far ahead queuing gives approved emails their slots (EMAIL_PLAN_AHEAD_HOURS' default). */
const planAheadMs = day;

export const monthZones = [
  { timeZone: "America/New_York", country: "US" },
  { timeZone: "America/Chicago", country: "US" },
  { timeZone: "America/Los_Angeles", country: "US" },
  { timeZone: "Europe/London", country: "GB" },
  { timeZone: "Europe/Berlin", country: "DE" },
  { timeZone: "Asia/Kolkata", country: "IN" },
  { timeZone: "Asia/Tokyo", country: "JP" },
  { timeZone: "Australia/Sydney", country: "AU" },
];

export interface MonthSend {
  lead: number;
  step: number;
  mailbox: string;
  at: number;
}

export interface MonthRun {
  start: number;
  rules: Map<string, PacingRules>;
  windows: LeadWindow[];
  sends: MonthSend[];
  deferred: number;
  unplaced: number;
  planningMs: number;
}

export async function simulateMonth(leads = 5000, seed = 1): Promise<MonthRun> {
  const random = seeded(seed);
  const start = Date.UTC(2026, 9, 19); // Monday 19 October 2026
  const base = { hourlyCap: 8, minGapMs: 90_000, jitterMs: 60_000, dailyCap: 30 };
  const rules = new Map<string, PacingRules>([
    ["established-1", base],
    ["established-2", base],
    [
      "new",
      {
        ...base,
        dailyCapAt: (at: number) => Math.min(30, 5 + 2 * Math.max(0, Math.floor((at - start) / day))),
      },
    ],
  ]);
  const workspace = { sending_hours: "09:00-17:00", sending_days: "1-5", skip_holidays: true };
  const windows: LeadWindow[] = [];
  for (let i = 0; i < leads; i++) {
    windows.push(
      await leadWindow(workspace, monthZones[i % monthZones.length] as (typeof monthZones)[number]),
    );
  }
  const ids = [...rules.keys()];
  const sends: MonthSend[] = [];
  const sentBy = new Map<string, number[]>(ids.map((id) => [id, []]));
  let deferred = 0;
  let unplaced = 0;
  let planningMs = 0;

  // Delivers planned sends in time order as the worker would, up to `until`; returns the rest.
  const pending: { lead: number; step: number; mailbox: string; at: number }[] = [];
  const deliverUntil = (until: number) => {
    pending.sort((a, b) => a.at - b.at);
    while (pending.length > 0 && (pending[0] as (typeof pending)[number]).at <= until) {
      const job = pending.shift() as (typeof pending)[number];
      const sent = sentBy.get(job.mailbox) as number[];
      const window = windows[job.lead] as LeadWindow;
      const at = job.at + random() * 5000;
      const allowed = nextOpening(earliestSlot(sent, at, rules.get(job.mailbox) as PacingRules), window);
      if (allowed > at) {
        deferred += 1;
        pending.push({ ...job, at: allowed });
        pending.sort((a, b) => a.at - b.at);
        continue;
      }
      sent.push(at);
      sends.push({ lead: job.lead, step: job.step, mailbox: job.mailbox, at });
    }
  };
  // Approved, not yet given a slot: follow-ups first, then in approval order.
  let approved: (PlanEmail & { lead: number; step: number })[] = [];
  const topUp = (now: number) => {
    const began = performance.now();
    const result = planBatch(
      ids.map((id) => ({
        id,
        rules: rules.get(id) as PacingRules,
        taken: [
          ...sends.filter((send) => send.mailbox === id && send.at > now - day),
          ...pending.filter((job) => job.mailbox === id),
        ].map((send) => ({ at: send.at, window: (windows[send.lead] as LeadWindow).key })),
      })),
      approved,
      now,
      { random, until: now + planAheadMs },
    );
    planningMs += performance.now() - began;
    unplaced += result.unplaced.length;
    const byId = new Map(approved.map((email) => [email.id, email]));
    for (const slot of result.planned) {
      const email = byId.get(slot.id) as (typeof approved)[number];
      pending.push({ lead: email.lead, step: email.step, mailbox: slot.mailbox, at: slot.at });
    }
    const left = new Set(result.waiting);
    approved = approved.filter((email) => left.has(email.id));
  };
  const runHours = (from: number, hours: number) => {
    for (let hour = 0; hour < hours; hour++) {
      const now = from + hour * 3_600_000;
      deliverUntil(now);
      topUp(now);
    }
  };

  approved = windows.map((window, lead) => ({ id: `first-${lead}`, lead, step: 0, mailboxes: ids, window }));
  runHours(start, 7 * 24);
  const threads = sends.filter((send) => send.step === 0);
  approved = [
    ...threads.map((send) => ({
      id: `follow-up-${send.lead}`,
      lead: send.lead,
      step: 1,
      mailboxes: [send.mailbox],
      window: windows[send.lead] as LeadWindow,
    })),
    ...approved,
  ];
  runHours(start + 7 * day, 23 * 24);
  deliverUntil(start + 30 * day);
  return { start, rules, windows, sends, deferred, unplaced, planningMs };
}

/** What the month shows: sends per mailbox and their spread, and the busiest day against its cap. */
export function monthReport(run: MonthRun) {
  const perMailbox = Object.fromEntries(
    [...run.rules.keys()].map((id) => {
      const mine = run.sends.filter((send) => send.mailbox === id);
      return [id, { sends: mine.length, first_emails: mine.filter((send) => send.step === 0).length }];
    }),
  );
  const established = [
    perMailbox["established-1"]?.first_emails ?? 0,
    perMailbox["established-2"]?.first_emails ?? 0,
  ];
  return {
    leads: run.windows.length,
    sends_in_month: run.sends.length,
    follow_ups_sent: run.sends.filter((send) => send.step === 1).length,
    per_mailbox: perMailbox,
    established_spread: Math.max(...established) / Math.max(1, Math.min(...established)) - 1,
    deferred_at_send: run.deferred,
    unplaced: run.unplaced,
    planning_ms: Math.round(run.planningMs),
  };
}
