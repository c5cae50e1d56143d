import { z } from "zod";
import { json, type RequestContext } from "../http/handler";
import { invalidJob, type QStashDelivery, readJob } from "../queue";
import { deliverReminder } from "./reminders";
import { syncCalendar } from "./sync";

const calendarJob = z.union([
  z.object({ sync: z.enum(["push", "reconcile"]), calendar_id: z.uuid() }),
  z.object({ reminder: z.uuid(), for_start: z.iso.datetime() }),
]);

/**
 * `POST /api/workers/calendar`: a calendar sync (after a push notification, or the hourly
 * reconcile) or a meeting reminder coming due. Failures answer 5xx so QStash delivers again; both
 * jobs are safe to repeat.
 */
export async function runCalendarJob(ctx: RequestContext & { delivery: QStashDelivery }): Promise<Response> {
  const job = await readJob(ctx, calendarJob, "calendar");
  if (!job) {
    return invalidJob();
  }
  if ("sync" in job) {
    const result = await syncCalendar(job.calendar_id, ctx.log);
    ctx.log.info({ reason: job.sync, ...result }, "calendar synced");
    return json({ success: true, data: result });
  }
  const outcome = await deliverReminder(job, ctx.delivery.messageId);
  return json({ success: true, data: { outcome } });
}
