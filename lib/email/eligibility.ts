import { eq } from "drizzle-orm";
import { type leads, workspaces } from "../db/schema";
import { serviceDb } from "../db/service";
import { isSuppressed } from "./suppression";

type LeadRow = typeof leads.$inferSelect;

/**
 * The lead statuses email may still go to, first emails and follow-ups alike: an allow-list, so a
 * status added later stops email until someone decides it should not. `qualified` is a lead the
 * user judged worth pursuing, so its sequence continues; replied, booked, unsubscribed, bounced and
 * unqualified leads get nothing more.
 */
export const emailableStatuses = ["new", "contacted", "engaged", "qualified"] as const;

/**
 * The one rule for whether a lead may be emailed by its workspace, used when drafting (first emails
 * and follow-up steps, both outbound-emailer runs) and again at send time: it has an address, its status does not stop email, the
 * workspace's suppression list does not hold the address, and an address found on another domain
 * than its site's is emailed only while the workspace accepts those. Returns why not, or undefined.
 */
export async function whyNotEmail(lead: LeadRow): Promise<string | undefined> {
  if (!lead.email) {
    return "no email address";
  }
  if ((lead.metadata as { foreign_domain?: boolean } | null)?.foreign_domain) {
    const db = await serviceDb();
    const [workspace] = await db
      .select({ accepts: workspaces.accept_foreign_contacts })
      .from(workspaces)
      .where(eq(workspaces.id, lead.workspace_id));
    if (!workspace?.accepts) {
      return "the address is on another domain than the site it was found on";
    }
  }
  if (await isSuppressed(lead.workspace_id, lead.email)) {
    return "the address is suppressed (unsubscribed, bounced or complained)";
  }
  if (!(emailableStatuses as readonly string[]).includes(lead.status)) {
    return `the lead is ${lead.status}`;
  }
  return undefined;
}
