/**
 * Send-time policy: what may stop or hold an email at the moment it would go out, re-derived from
 * trusted rows (the lead in the email's own workspace, its eligibility, its company, the campaign),
 * and each lead's sending window (its time zone, inferred and recorded here, the only writer of the
 * lead's `time_zone`, `time_zone_source` and `country` besides a member's explicit zone).
 */
import { and, eq, inArray, or, sql } from "drizzle-orm";
import { campaigns, type emailEvents, leads, type workspaces } from "../db/schema";
import { serviceDb } from "../db/service";
import { whyNotEmail } from "./eligibility";
import { loadLeadZones } from "./lead-zone";
import { type LeadWindow, leadWindow } from "./window";

type EmailEvent = typeof emailEvents.$inferSelect;
export type LeadRow = typeof leads.$inferSelect;
type WorkspaceRow = typeof workspaces.$inferSelect;

/** The lead an email is for, in the email's own workspace (never another workspace's row). */
export async function leadOf(
  event: Pick<EmailEvent, "lead_id" | "workspace_id">,
): Promise<LeadRow | undefined> {
  if (!event.lead_id) {
    return undefined;
  }
  const db = await serviceDb();
  const [lead] = await db
    .select()
    .from(leads)
    .where(and(eq(leads.id, event.lead_id), eq(leads.workspace_id, event.workspace_id)));
  return lead;
}

/** Why an email must not go out now, checked at send time: the lead's eligibility, its company, the campaign. */
export async function stopReason(event: EmailEvent, lead: LeadRow | undefined): Promise<string | undefined> {
  if (!lead) {
    return "the lead is gone";
  }
  const ineligible = await whyNotEmail(lead);
  if (ineligible) {
    return ineligible;
  }
  const db = await serviceDb();
  if (lead.company || lead.website) {
    // A reply from anyone at the company stops the sequence for all of it.
    const sameCompany = or(
      lead.website ? eq(leads.website, lead.website) : undefined,
      lead.company ? sql`lower(${leads.company}) = ${lead.company.toLowerCase()}` : undefined,
    );
    const [colleague] = await db
      .select({ id: leads.id })
      .from(leads)
      .where(
        and(
          eq(leads.workspace_id, lead.workspace_id),
          inArray(leads.status, ["replied", "meeting_booked"]),
          sameCompany,
        ),
      )
      .limit(1);
    if (colleague) {
      return `someone at ${lead.company ?? lead.website} replied`;
    }
  }
  if (event.campaign_id) {
    const [campaign] = await db
      .select({ status: campaigns.status })
      .from(campaigns)
      .where(and(eq(campaigns.id, event.campaign_id), eq(campaigns.workspace_id, event.workspace_id)));
    if (campaign && ["paused", "completed", "archived"].includes(campaign.status)) {
      return `the campaign is ${campaign.status}`;
    }
  }
  return undefined;
}

/** An out-of-office reply pauses the lead until its return date; its emails wait, they are not dropped. */
export function leadPausedUntil(lead: LeadRow | undefined): number {
  const until = (lead?.metadata as { paused_until?: string } | undefined)?.paused_until;
  return until ? Date.parse(until) || 0 : 0;
}

/**
 * The sending window of each lead: its zone and country (explicit, else inferred from its address,
 * phone or domain, else the workspace's), recorded on the lead when they changed, in one statement,
 * so a person sees where its emails' hours come from. An explicit zone is never overwritten.
 */
export async function windowsOf(
  workspace: WorkspaceRow,
  rows: readonly LeadRow[],
): Promise<Map<string, LeadWindow>> {
  const zones = await loadLeadZones();
  const windows = new Map<string, LeadWindow>();
  const changed: { id: string; tz: string; source: string; country: string | null }[] = [];
  for (const lead of rows) {
    const zone = zones.infer(lead, workspace.time_zone);
    if (
      zone.source !== "explicit" &&
      (lead.time_zone !== zone.timeZone ||
        lead.time_zone_source !== zone.source ||
        lead.country !== zone.country)
    ) {
      changed.push({ id: lead.id, tz: zone.timeZone, source: zone.source, country: zone.country });
    }
    windows.set(lead.id, await leadWindow(workspace, zone));
  }
  if (changed.length > 0) {
    const db = await serviceDb();
    await db.execute(sql`
      update ${leads} set time_zone = v.tz, time_zone_source = v.source, country = v.country
      from jsonb_to_recordset(${JSON.stringify(changed)}::jsonb) as v(id uuid, tz text, source text, country text)
      where ${leads.id} = v.id and ${leads.workspace_id} = ${workspace.id}
        -- A member's explicit zone set meanwhile stays.
        and ${leads.time_zone_source} is distinct from 'explicit'`);
  }
  return windows;
}

/**
 * A lead's window at send time: the zone planning recorded on it (the workspace's current zone when
 * that is where it came from), inferred only when none is recorded, so the worker loads the
 * gazetteer and the phone metadata only for a lead that was never planned.
 */
export async function sendWindowOf(workspace: WorkspaceRow, lead: LeadRow): Promise<LeadWindow> {
  if (lead.time_zone && lead.time_zone_source) {
    const timeZone = lead.time_zone_source === "workspace" ? workspace.time_zone : lead.time_zone;
    return leadWindow(workspace, { timeZone, country: lead.country });
  }
  return (await windowsOf(workspace, [lead])).get(lead.id) as LeadWindow;
}
