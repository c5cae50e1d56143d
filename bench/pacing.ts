/**
 * Pacing correctness over a simulated week: 10,000 emails queued at once over 5 mailboxes with the
 * default caps of a ramped mailbox (30 a day, 8 an hour, 90 s + up to 60 s jitter). Each mailbox plans its slots at
 * enqueue; at each slot the send-time check runs again against what was really sent (a send it
 * refuses is deferred to the slot it names). Counted: sends, deferrals, and sends over any cap.
 */
import { earliestSlot, pacingViolations, planSlots } from "../lib/email/pacing";
import { isInWindow, type LeadWindow } from "../lib/email/window";
import { monthReport, simulateMonth } from "../test/support/month";

export function benchPacing(emails = 10_000, mailboxes = 5) {
  const rules = { dailyCap: 30, hourlyCap: 8, minGapMs: 90_000, jitterMs: 60_000 };
  const week = 7 * 86_400_000;
  const started = performance.now();
  let sent = 0;
  let deferred = 0;
  let violations = 0;
  let planned = 0;
  for (let m = 0; m < mailboxes; m++) {
    const perMailbox = Math.ceil(emails / mailboxes);
    const slots = planSlots([], perMailbox, 0, rules);
    planned += slots.length;
    const actual: number[] = [];
    // Jobs arrive at their slot, sometimes late (queue latency up to 5 s), in slot order.
    for (const slot of slots.filter((s) => s < week)) {
      let at = slot + Math.random() * 5000;
      for (;;) {
        const allowed = earliestSlot(actual, at, rules);
        if (allowed <= at) {
          actual.push(at);
          break;
        }
        deferred += 1;
        at = allowed;
      }
    }
    sent += actual.filter((t) => t < week).length;
    violations += pacingViolations(actual, rules).length;
  }
  return {
    queued: emails,
    mailboxes,
    planned,
    sent_in_week: sent,
    max_possible_in_week: mailboxes * 7 * rules.dailyCap,
    deferred_at_send: deferred,
    sends_over_a_cap: violations,
    planning_ms: Math.round(performance.now() - started),
  };
}

/**
 * The simulated month of test/support/month.ts (3 mailboxes, one ramping; 5,000 leads in eight zones
 * across two daylight-saving changes; hourly planning a day ahead; follow-ups on day 7), with what
 * the test asserts counted instead: sends over a day's cap, sends outside their lead's window,
 * follow-ups sent from another mailbox than their thread's, and the rotation's spread.
 */
export async function benchMonth() {
  const started = performance.now();
  const run = await simulateMonth(5000, 1);
  const report = monthReport(run);
  let overCap = 0;
  for (const [id, rules] of run.rules) {
    overCap += pacingViolations(
      run.sends.filter((send) => send.mailbox === id).map((send) => send.at),
      rules,
    ).length;
  }
  const firstFrom = new Map(run.sends.filter((s) => s.step === 0).map((s) => [s.lead, s.mailbox]));
  const perMailbox = report.per_mailbox as Record<string, { sends: number; first_emails: number }>;
  return {
    leads: report.leads,
    sends_in_month: report.sends_in_month,
    follow_ups_sent: report.follow_ups_sent,
    first_emails_per_mailbox: Object.entries(perMailbox)
      .map(([id, figures]) => `${id}: ${figures.first_emails}`)
      .join(", "),
    established_spread_pct: Math.round(report.established_spread * 1000) / 10,
    sends_over_a_cap: overCap,
    sends_outside_window: run.sends.filter(
      (send) => !isInWindow(send.at, run.windows[send.lead] as LeadWindow),
    ).length,
    follow_ups_off_thread: run.sends.filter((s) => s.step === 1 && firstFrom.get(s.lead) !== s.mailbox)
      .length,
    deferred_at_send: report.deferred_at_send,
    planning_ms: report.planning_ms,
    total_ms: Math.round(performance.now() - started),
  };
}
