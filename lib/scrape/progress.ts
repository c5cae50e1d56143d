import { and, eq, sql } from "drizzle-orm";
import { agentTasks } from "../db/schema";
import { serviceDb } from "../db/service";

/** Where each site of a lead-generation task stands, kept on the task (the frontend sees it live). */
export interface SiteState {
  status: "pending" | "completed" | "failed";
  start_urls: string[];
  /** Normalised URLs of the pages the report covers (fetched or from the cache). */
  pages?: string[];
  reason?: string | null;
  not_read?: { url: string; reason: string }[];
  blocked?: number;
  reported_at?: string;
}

export type SiteStates = Record<string, SiteState>;

export function sitesOf(metadata: unknown): SiteStates {
  return ((metadata as { sites?: SiteStates } | null)?.sites ?? {}) as SiteStates;
}

/**
 * Records one site's report on its task, once: only a site still pending changes, in one statement,
 * so concurrent reports for different sites never overwrite each other. Returns the sites still
 * pending, or undefined when the report changed nothing (a duplicate, or the task is over).
 */
export async function recordSiteReport(
  taskId: string,
  site: string,
  state: Omit<SiteState, "start_urls" | "reported_at">,
): Promise<{ pending: number; total: number } | undefined> {
  const db = await serviceDb();
  const patch = JSON.stringify({ ...state, reported_at: new Date().toISOString() });
  const [row] = await db
    .update(agentTasks)
    .set({
      metadata: sql`jsonb_set(${agentTasks.metadata}, array['sites', ${site}]::text[],
        (${agentTasks.metadata} -> 'sites' -> ${site}) || ${patch}::jsonb)`,
    })
    .where(
      and(
        eq(agentTasks.id, taskId),
        eq(agentTasks.status, "processing"),
        sql`${agentTasks.metadata} -> 'sites' -> ${site} ->> 'status' = 'pending'`,
      ),
    )
    .returning({ metadata: agentTasks.metadata });
  if (!row) {
    return undefined;
  }
  const sites = Object.values(sitesOf(row.metadata));
  const pending = sites.filter((entry) => entry.status === "pending").length;
  const progress = Math.round(((sites.length - pending) / Math.max(1, sites.length)) * 90);
  await db
    .update(agentTasks)
    .set({
      metadata: sql`${agentTasks.metadata} || ${JSON.stringify({
        progress,
        progress_message: `${sites.length - pending} of ${sites.length} sites read`,
      })}::jsonb`,
    })
    .where(eq(agentTasks.id, taskId));
  return { pending, total: sites.length };
}
