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
 * Adds the address to the user's suppression list at once (the send-time check reads it), and marks
 * every lead of the user with that address, with a line in its history. Idempotent: a second
 * unsubscribe changes nothing and says so.
 */
export async function suppress(
  userId: string,
  email: string,
  reason: SuppressionReason,
  source: string,
  leadId: string | null = null,
): Promise<{ added: boolean }> {
  const db = await serviceDb();
  return db.transaction(async (tx) => {
    const inserted = await tx.execute(sql`
      insert into ${emailSuppressions} (user_id, email, reason, source, lead_id)
      values (${userId}, ${email.toLowerCase()}, ${reason}, ${source.slice(0, 200)}, ${leadId})
      on conflict (user_id, lower(email)) do nothing
      returning id`);
    const added = rowsOf(inserted).length > 0;
    const status = leadStatus[reason];
    if (added && status) {
      const entry = JSON.stringify([{ at: new Date().toISOString(), event: reason, source }]);
      await tx
        .update(leads)
        .set({ status, history: sql`${leads.history} || ${entry}::jsonb` })
        .where(and(eq(leads.user_id, userId), sql`lower(${leads.email}) = ${email.toLowerCase()}`));
    }
    return { added };
  });
}

export async function isSuppressed(userId: string, email: string): Promise<boolean> {
  const db = await serviceDb();
  const [row] = await db
    .select({ id: emailSuppressions.id })
    .from(emailSuppressions)
    .where(
      and(
        eq(emailSuppressions.user_id, userId),
        sql`lower(${emailSuppressions.email}) = ${email.toLowerCase()}`,
      ),
    );
  return Boolean(row);
}
