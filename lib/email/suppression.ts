import { and, eq, sql } from "drizzle-orm";
import { rowsOf } from "../db/client";
import { emailSuppressions, leads } from "../db/schema";
import { serviceDb } from "../db/service";

export type SuppressionReason = "unsubscribed" | "bounced" | "complained" | "manual";

const leadStatus: Record<SuppressionReason, "unsubscribed" | "bounced" | null> = {
  unsubscribed: "unsubscribed",
  complained: "unsubscribed",
  bounced: "bounced",
  manual: null,
};

/**
 * Suppression belongs to the workspace, the legal sender: an unsubscribe, a bounce or a complaint
 * through any member's email stops every member's email to that address. Adds the address at once
 * (the send-time check reads it) and marks the workspace's leads with it, with a line in their
 * history. Idempotent: a second unsubscribe changes nothing and says so.
 */
export async function suppress(
  target: { workspaceId: string; userId: string },
  email: string,
  reason: SuppressionReason,
  source: string,
  leadId: string | null = null,
): Promise<{ added: boolean }> {
  const db = await serviceDb();
  return db.transaction(async (tx) => {
    const inserted = await tx.execute(sql`
      insert into ${emailSuppressions} (workspace_id, user_id, email, reason, source, lead_id)
      select ${target.workspaceId}, ${target.userId}, ${email.toLowerCase()}, ${reason}, ${source.slice(0, 200)},
        (select id from ${leads} where id = ${leadId} and workspace_id = ${target.workspaceId})
      on conflict (workspace_id, lower(email)) do nothing
      returning id`);
    const added = rowsOf(inserted).length > 0;
    const status = leadStatus[reason];
    if (added && status) {
      const entry = JSON.stringify([{ at: new Date().toISOString(), event: reason, source }]);
      await tx
        .update(leads)
        .set({ status, history: sql`${leads.history} || ${entry}::jsonb` })
        .where(
          and(
            eq(leads.workspace_id, target.workspaceId),
            sql`lower(${leads.email}) = ${email.toLowerCase()}`,
          ),
        );
    }
    return { added };
  });
}

export async function isSuppressed(workspaceId: string, email: string): Promise<boolean> {
  const db = await serviceDb();
  const [row] = await db
    .select({ id: emailSuppressions.id })
    .from(emailSuppressions)
    .where(
      and(
        eq(emailSuppressions.workspace_id, workspaceId),
        sql`lower(${emailSuppressions.email}) = ${email.toLowerCase()}`,
      ),
    );
  return Boolean(row);
}
