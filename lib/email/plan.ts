/**
 * Planning a batch of emails over a workspace's mailboxes: which mailbox sends each email and when.
 * Pure, so the pacing bench and the simulated-month test run exactly what queuing runs.
 *
 * Time moves forward mailbox by mailbox: each mailbox's next free slot is the earliest instant its
 * pacing allows (caps of the day, its ramp included; hourly cap; least gap and jitter) after the last
 * send it already has. The mailbox whose free slot comes first takes it (on a tie, the one with
 * fewer emails of this batch: rotation), and gives it to the first waiting email it may send whose
 * lead's window is open then. A follow-up may only go from the mailbox that started its thread; a
 * first email from any mailbox of its campaign's set. When no waiting email's window is open at a
 * mailbox's free slot, that mailbox skips ahead to the soonest opening among them. So no lead's
 * window holds up another's, and every mailbox's own slots only move forward (a planned slot never
 * crowds a send planned earlier).
 */
import { earliestSlot, type PacingRules } from "./pacing";
import { type LeadWindow, nextOpening } from "./window";

export interface PlanMailbox {
  id: string;
  rules: PacingRules;
  /** Sends already taken: sent in the last day and planned (any order), with their lead's window key. */
  taken: readonly { at: number; window?: string }[];
  /** Nothing before this instant (a pause). */
  notBefore?: number;
}

export interface PlanEmail {
  id: string;
  /** The mailboxes that may send it: one for a follow-up (its thread's), a campaign's set otherwise. */
  mailboxes: readonly string[];
  window: LeadWindow;
}

export interface Planned {
  id: string;
  mailbox: string;
  at: number;
}

/** An email whose lead's window does not open within this is left out (a window that never opens). */
const neverMs = 400 * 86_400_000;
const dayMs = 86_400_000;

interface MailboxState {
  box: PlanMailbox;
  taken: number[];
  cursor: number;
  /** First emails (those it could share with another mailbox) it was given: rotation's tie-break. */
  assigned: number;
  /** Its sends (taken and planned), per lead window key, in time order: for fair shares. */
  given: Map<string, number[]>;
  /** Its next free slot (with the jitter drawn for it), until the slot is used or skipped. */
  next?: number;
}

interface Group {
  window: LeadWindow;
  mailboxes: ReadonlySet<string>;
  waiting: PlanEmail[];
  head: number;
}

export interface PlanOptions {
  random?: () => number;
  /** Plan no slot later than this; the emails left wait for a later planning (`waiting`). */
  until?: number;
}

/**
 * Plans the emails in the order given (put follow-ups first to favour them). Returns a slot for each
 * email that fits before `until` on a mailbox it may use, `waiting` for those that did not fit yet,
 * and `unplaced` (with the reason) for those that never can.
 */
export function planBatch(
  mailboxes: readonly PlanMailbox[],
  emails: readonly PlanEmail[],
  now: number,
  options: PlanOptions = {},
): { planned: Planned[]; waiting: string[]; unplaced: { id: string; reason: string }[] } {
  const random = options.random ?? Math.random;
  const until = Math.min(options.until ?? Number.POSITIVE_INFINITY, now + neverMs);
  const states = new Map<string, MailboxState>();
  for (const box of mailboxes) {
    const sorted = [...box.taken].sort((a, b) => a.at - b.at);
    const taken = sorted.map((send) => send.at);
    const given = new Map<string, number[]>();
    for (const send of sorted) {
      if (send.window) {
        const list = given.get(send.window);
        list ? list.push(send.at) : given.set(send.window, [send.at]);
      }
    }
    states.set(box.id, {
      box,
      taken,
      cursor: Math.max(now, box.notBefore ?? now, taken.at(-1) ?? now),
      assigned: 0,
      given,
    });
  }
  const groups = new Map<string, Group>();
  const unplaced: { id: string; reason: string }[] = [];
  for (const email of emails) {
    const usable = email.mailboxes.filter((id) => states.has(id));
    if (usable.length === 0) {
      unplaced.push({ id: email.id, reason: "no mailbox it may be sent from can send" });
      continue;
    }
    const key = `${[...usable].sort().join(",")}|${email.window.key}`;
    let group = groups.get(key);
    if (!group) {
      group = { window: email.window, mailboxes: new Set(usable), waiting: [], head: 0 };
      groups.set(key, group);
    }
    group.waiting.push(email);
  }
  const order = new Map(emails.map((email, index) => [email.id, index]));
  const planned: Planned[] = [];
  let waiting = emails.length - unplaced.length;
  const freeSlot = (state: MailboxState) => {
    if (state.next === undefined) {
      // Only the sends of the last day before the cursor can limit the next one.
      const recent = state.taken.filter((t) => t > state.cursor - 86_400_000);
      const jitter = Math.round(random() * state.box.rules.jitterMs);
      state.next = earliestSlot(recent, state.cursor, state.box.rules, jitter);
    }
    return state.next;
  };
  // A mailbox's best offer: its free slot if some waiting email's window is open then, else it moves
  // its cursor to the soonest opening and tries again.
  const offer = (state: MailboxState): { at: number; group: Group } | undefined => {
    for (let round = 0; round < 1000; round++) {
      const slot = freeSlot(state);
      if (slot > until) {
        return undefined;
      }
      // Fair shares: each group whose window opens within a day may have, of this mailbox's cap of
      // the day, the part its waiting emails are of all waiting. Without them the zones whose
      // morning comes first after the cap frees would take it every day, and the others starve.
      const cap = state.box.rules.dailyCapAt?.(slot) ?? state.box.rules.dailyCap;
      // Shares are per lead window (follow-ups and first emails to the same zone share one).
      const candidates: { group: Group; opening: number }[] = [];
      const remainingOf = new Map<string, number>();
      let total = 0;
      for (const group of groups.values()) {
        if (group.head >= group.waiting.length || !group.mailboxes.has(state.box.id)) {
          continue;
        }
        const opening = nextOpening(slot, group.window);
        const remaining = group.waiting.length - group.head;
        if (opening < slot + dayMs) {
          total += remaining;
          remainingOf.set(group.window.key, (remainingOf.get(group.window.key) ?? 0) + remaining);
        }
        candidates.push({ group, opening });
      }
      let soonest = Number.POSITIVE_INFINITY;
      let soonestOwed = Number.POSITIVE_INFINITY;
      let fair: Group | undefined;
      let anyOpen: Group | undefined;
      const rankOf = (group: Group) => order.get(group.waiting[group.head]?.id ?? "") ?? 0;
      for (const { group, opening } of candidates) {
        const remaining = remainingOf.get(group.window.key) ?? 0;
        const owed =
          opening < slot + dayMs && sentTo(state, group, slot) < Math.ceil((cap * remaining) / total);
        if (opening === slot) {
          // The email given first in the batch among those open now goes first.
          if (!anyOpen || rankOf(group) < rankOf(anyOpen)) {
            anyOpen = group;
          }
          if (owed && (!fair || rankOf(group) < rankOf(fair))) {
            fair = group;
          }
        } else {
          soonest = Math.min(soonest, opening);
          if (owed) {
            soonestOwed = Math.min(soonestOwed, opening);
          }
        }
      }
      if (fair) {
        return { at: slot, group: fair };
      }
      // An open group past its share waits for one still owed its share, unless none is.
      if (anyOpen && !Number.isFinite(soonestOwed)) {
        return { at: slot, group: anyOpen };
      }
      if (Number.isFinite(soonestOwed)) {
        soonest = soonestOwed;
      }
      if (!Number.isFinite(soonest)) {
        return undefined;
      }
      state.cursor = soonest;
      state.next = undefined;
    }
    return undefined;
  };
  const sentTo = (state: MailboxState, group: Group, at: number) => {
    const times = state.given.get(group.window.key) ?? [];
    let n = 0;
    for (let i = times.length - 1; i >= 0 && (times[i] as number) > at - dayMs; i--) {
      n++;
    }
    return n;
  };
  const offers = new Map<string, { at: number; group: Group } | undefined>();
  while (waiting > 0) {
    let best: { state: MailboxState; at: number; group: Group } | undefined;
    for (const state of states.values()) {
      let current = offers.get(state.box.id);
      // Asked once per slot; asked again when the group it offered to has emptied since.
      if (
        (!current && !offers.has(state.box.id)) ||
        (current && current.group.head >= current.group.waiting.length)
      ) {
        current = offer(state);
        offers.set(state.box.id, current);
      }
      if (!current) {
        continue;
      }
      if (!best || current.at < best.at || (current.at === best.at && state.assigned < best.state.assigned)) {
        best = { state, ...current };
      }
    }
    if (!best) {
      break;
    }
    const email = best.group.waiting[best.group.head] as PlanEmail;
    best.group.head += 1;
    waiting -= 1;
    planned.push({ id: email.id, mailbox: best.state.box.id, at: best.at });
    best.state.taken.push(best.at);
    best.state.cursor = best.at;
    if (email.mailboxes.length > 1) {
      best.state.assigned += 1;
    }
    const given = best.state.given.get(best.group.window.key);
    given ? given.push(best.at) : best.state.given.set(best.group.window.key, [best.at]);
    best.state.next = undefined;
    offers.delete(best.state.box.id);
  }
  const left: string[] = [];
  for (const group of groups.values()) {
    for (const email of group.waiting.slice(group.head)) {
      if (until < now + neverMs) {
        left.push(email.id);
      } else {
        unplaced.push({ id: email.id, reason: "its lead's sending window does not open within 400 days" });
      }
    }
  }
  return { planned, waiting: left, unplaced };
}
