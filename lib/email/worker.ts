/**
 * The email worker (`POST /api/workers/email`), QStash-delivered: sends one email, or processes a
 * mailbox's changes after Gmail's push. A deferral publishes the job again for its new time.
 */
import { eq } from "drizzle-orm";
import { z } from "zod";
import { emailEvents } from "../db/schema";
import { serviceDb } from "../db/service";
import { ApiError } from "../http/errors";
import { json, type RequestContext } from "../http/handler";
import { invalidJob, type QStashDelivery, readJob } from "../queue";
import { deliverEmail } from "./deliver";
import { publishEmail } from "./queueing";

const sendJob = z.object({ event_id: z.uuid(), deferrals: z.int().min(0).max(200).default(0) });
const syncJob = z.object({ sync_mailbox: z.email(), history_id: z.string().optional() });
/** The email worker's two jobs: send one email, or process a mailbox's changes after a push. */
export const emailJob = z.union([sendJob, syncJob]);

/** `POST /api/workers/email`: one email; a deferral publishes the job again for its new slot. */
export async function runEmailJob(ctx: RequestContext & { delivery: QStashDelivery }): Promise<Response> {
  const job = await readJob(ctx, emailJob, "email");
  if (!job) {
    return invalidJob();
  }
  if ("sync_mailbox" in job) {
    const { syncMailbox } = await import("./inbound");
    const synced = await syncMailbox(job.sync_mailbox, ctx.log);
    if (synced === "busy") {
      throw new ApiError("conflict", "The mailbox is being synced", { headers: { "retry-after": "20" } });
    }
    return json({ success: true, data: synced });
  }
  const result = await deliverEmail(job.event_id, ctx.delivery.messageId);
  if (result.outcome === "deferred") {
    if (job.deferrals >= 200) {
      const db = await serviceDb();
      await db
        .update(emailEvents)
        .set({ event_type: "cancelled", error: `put off too often (${result.reason})` })
        .where(eq(emailEvents.id, job.event_id));
      return json({ success: true, data: { outcome: "cancelled", reason: result.reason } });
    }
    await publishEmail(job.event_id, Date.parse(result.until) - Date.now(), job.deferrals + 1);
  }
  return json({ success: true, data: result });
}
