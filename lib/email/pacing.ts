/**
 * Per-mailbox pacing over rolling windows: at most `dailyCap` sends in any 24 hours (a ramping
 * mailbox's cap of the day, `dailyCapAt`, for the 24 hours ending at a send), `hourlyCap` in any
 * hour, and `minGapMs` (plus jitter) between two sends. Pure functions over the send times,
 * used both to plan a batch when it is queued and to check again, under the mailbox's lock, at the
 * moment of sending.
 */
export interface PacingRules {
  dailyCap: number;
  hourlyCap: number;
  minGapMs: number;
  jitterMs: number;
  /** The daily cap at an instant, when it changes over time (a mailbox's ramp); else `dailyCap`. */
  dailyCapAt?: (at: number) => number;
}

const dailyCapAt = (rules: PacingRules, at: number) => rules.dailyCapAt?.(at) ?? rules.dailyCap;

const hour = 3_600_000;
const day = 24 * hour;

/** The earliest instant ≥ `from` at which one more send keeps every rule, given the sends so far. */
export function earliestSlot(sent: readonly number[], from: number, rules: PacingRules, jitter = 0): number {
  const times = [...sent].sort((a, b) => a - b);
  let slot = from;
  for (let round = 0; round < 100; round++) {
    const before = slot;
    const previous = times.filter((t) => t <= slot).at(-1);
    if (previous !== undefined) {
      slot = Math.max(slot, previous + rules.minGapMs + jitter);
    }
    for (const [window, cap] of [
      [hour, rules.hourlyCap],
      [day, dailyCapAt(rules, slot)],
    ] as const) {
      const inWindow = times.filter((t) => t > slot - window && t <= slot);
      if (inWindow.length >= cap) {
        // Wait until the oldest send that keeps the window full has aged out.
        slot = Math.max(slot, (inWindow[inWindow.length - cap] as number) + window + 1);
      }
    }
    // A later send already planned must also keep its gap from this one.
    const next = times.find((t) => t > slot);
    if (next !== undefined && next - slot < rules.minGapMs) {
      slot = next;
      continue;
    }
    if (slot === before) {
      return slot;
    }
  }
  return slot;
}

/** Slots for `count` sends from `from`, each one reserved before the next is placed. */
export function planSlots(
  sent: readonly number[],
  count: number,
  from: number,
  rules: PacingRules,
  random: () => number = Math.random,
): number[] {
  const taken = [...sent];
  const slots: number[] = [];
  let cursor = from;
  for (let i = 0; i < count; i++) {
    const slot = earliestSlot(taken, cursor, rules, Math.round(random() * rules.jitterMs));
    slots.push(slot);
    taken.push(slot);
    cursor = slot;
  }
  return slots;
}

/** Every rule broken by a list of send times (empty when the pacing held). */
export function pacingViolations(sent: readonly number[], rules: PacingRules): string[] {
  const times = [...sent].sort((a, b) => a - b);
  const problems: string[] = [];
  let startHour = 0;
  let startDay = 0;
  for (let i = 0; i < times.length; i++) {
    const t = times[i] as number;
    if (i > 0 && t - (times[i - 1] as number) < rules.minGapMs) {
      problems.push(`gap of ${t - (times[i - 1] as number)} ms before send ${i}`);
    }
    while (t - (times[startHour] as number) >= hour) {
      startHour++;
    }
    while (t - (times[startDay] as number) >= day) {
      startDay++;
    }
    if (i - startHour + 1 > rules.hourlyCap) {
      problems.push(`${i - startHour + 1} sends within an hour ending at send ${i}`);
    }
    if (i - startDay + 1 > dailyCapAt(rules, t)) {
      problems.push(`${i - startDay + 1} sends within a day ending at send ${i}`);
    }
  }
  return problems;
}
