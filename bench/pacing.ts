/**
 * Pacing correctness over a simulated week: 10,000 emails queued at once over 5 mailboxes with the
 * default caps (50 a day, 12 an hour, 90 s + up to 60 s jitter). Each mailbox plans its slots at
 * enqueue; at each slot the send-time check runs again against what was really sent (a send it
 * refuses is deferred to the slot it names). Counted: sends, deferrals, and sends over any cap.
 */
import { earliestSlot, pacingViolations, planSlots } from "../lib/email/pacing";

export function benchPacing(emails = 10_000, mailboxes = 5) {
  const rules = { dailyCap: 50, hourlyCap: 12, minGapMs: 90_000, jitterMs: 60_000 };
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
