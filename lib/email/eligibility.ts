import type { leads } from "../db/schema";
import { isSuppressed } from "./suppression";

type LeadRow = typeof leads.$inferSelect;

/** Lead statuses that end all email to a lead. */
export const stoppedStatuses = [
  "replied",
  "meeting_booked",
  "unsubscribed",
  "bounced",
  "unqualified",
] as const;

/**
 * The one rule for whether a lead may be emailed by its workspace, used when drafting, for
 * follow-ups and again at send time: it has an address, its status does not stop email, and the
 * workspace's suppression list does not hold the address. Returns why not, or undefined.
 */
export async function whyNotEmail(lead: LeadRow): Promise<string | undefined> {
  if (!lead.email) {
    return "no email address";
  }
  if (await isSuppressed(lead.workspace_id, lead.email)) {
    return "the address is suppressed (unsubscribed, bounced or complained)";
  }
  if ((stoppedStatuses as readonly string[]).includes(lead.status)) {
    return `the lead is ${lead.status}`;
  }
  return undefined;
}
