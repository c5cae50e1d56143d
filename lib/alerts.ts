import type { Transaction } from "./db/client";
import { type alertSeverities, alerts } from "./db/schema";
import { serviceDb } from "./db/service";
import { adminsOf } from "./workspaces/access";

export interface NewAlert {
  workspaceId: string;
  /** The member the alert is for (alerts are read by their recipient). */
  userId: string;
  type: string;
  severity?: (typeof alertSeverities)[number];
  title: string;
  message: string;
  taskId?: string | null;
  metadata?: Record<string, unknown>;
}

/** An alert in the member's feed (the frontend sees it at once through Realtime). */
export async function raiseAlert(alert: NewAlert, tx?: Transaction): Promise<string> {
  const db = tx ?? (await serviceDb());
  const [row] = await db
    .insert(alerts)
    .values({
      workspace_id: alert.workspaceId,
      user_id: alert.userId,
      type: alert.type,
      severity: alert.severity ?? "info",
      title: alert.title,
      message: alert.message.slice(0, 4000),
      task_id: alert.taskId ?? null,
      metadata: alert.metadata ?? {},
    })
    .returning({ id: alerts.id });
  return row?.id ?? "";
}

/** The same alert for every owner and admin of the workspace (connections, mailboxes, settings). */
export async function alertAdmins(alert: Omit<NewAlert, "userId">): Promise<number> {
  const admins = await adminsOf(alert.workspaceId);
  for (const userId of admins) {
    await raiseAlert({ ...alert, userId });
  }
  return admins.length;
}
