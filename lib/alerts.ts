import type { Transaction } from "./db/client";
import { type alertSeverities, alerts } from "./db/schema";
import { serviceDb } from "./db/service";

export interface NewAlert {
  userId: string;
  type: string;
  severity?: (typeof alertSeverities)[number];
  title: string;
  message: string;
  taskId?: string | null;
  metadata?: Record<string, unknown>;
}

/** An alert in the user's feed (the frontend sees it at once through Realtime). */
export async function raiseAlert(alert: NewAlert, tx?: Transaction): Promise<string> {
  const db = tx ?? (await serviceDb());
  const [row] = await db
    .insert(alerts)
    .values({
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
